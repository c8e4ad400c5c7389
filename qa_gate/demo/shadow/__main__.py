"""``python -m qa_gate.demo.shadow``: rebuild the shadow example's traffic suite and production predictions."""

from qa_gate.demo.shadow import build_traffic, write_production

if __name__ == "__main__":
    print(f"traffic suite: {build_traffic()}")
    print(f"production predictions of the good checkpoint: {write_production()}")
