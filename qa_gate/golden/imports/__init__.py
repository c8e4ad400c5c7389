"""``mm-gate golden import``: golden suites made from the formats teams already have (COCO, Karpathy, VQA v2, POPE,
Hugging Face Parquet, WebDataset, CSV/JSONL), with the sources' sha256 and the importer's settings pinned."""
