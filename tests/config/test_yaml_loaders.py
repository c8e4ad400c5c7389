"""qa_gate's YAML dialect at C speed: libyaml's parser with the dialect's Python resolvers reads every
document as the pure-Python loader does, and a refused document keeps the pure loader's message and position."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from qa_gate.config.values import PureYamlLoader, Where, YamlLoader, load_yaml, read_yaml
from qa_gate.errors import ConfigError
from qa_gate.golden.yaml_manifest import manifest_loaders

needs_libyaml = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML built without libyaml")

DOCUMENTS = [
    "a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: True\ng: false\nh: 1e-3\ni: 2\nj: n\nk: TRUE\n",
    "answers: [yes, no, on, off, Yes, NO, y, n, true, False]\n",
    "x: 1:30\ny: 007\nz: 0x1F\nw: 1_000\nv: .inf\nu: -.5\nt: 1.10\ns: 0o17\n",
    "n1: ~\nn2: null\nn3:\nd: 2024-01-02\nq: '1e-3'\nr: \"yes\"\n",
    "base: &b {k: 1}\nother:\n  <<: *b\n  k2: 2\n",
    "text: |\n  two\n  lines\nfolded: >\n  one\n  line\n",
    "unicode: caf\u00e9 \u2014 \U0001f600\nkey with spaces: v\n'quoted key': [a, 'b c', \"d\\te\"]\n",
    "- 1\n- [2, [3, {a: b}]]\n- {c: [d, e]}\n",
]

BROKEN = [
    "version: 1\nmodel:\n  adapter: open_clip\n checkpoint: x\n",
    "version: 1\nsamples: [\n",
    "a: [1, 2\nb: 3\n",
    "a: 'x\n",
    "a: b: c\n",
    "- a\nb: c\n",
    "a:\n\t- b\n",
    "{a: 1",
    "a: *x\n",
    "&a x: 1\n&a y: 2\n",
    "a: !!python/object:os.system x\n",
    "a: 1\na: 2\n",
    "1: a\n'1': b\n",
    "outer:\n  k: 1\n  k: 2\n",
]


@needs_libyaml
def test_the_dialect_loads_with_the_c_parser_and_pure_python_is_kept() -> None:
    assert issubclass(YamlLoader, yaml.CSafeLoader) and issubclass(PureYamlLoader, yaml.SafeLoader)
    fast, pure = manifest_loaders()
    assert issubclass(fast, yaml.CSafeLoader) and issubclass(pure, PureYamlLoader)


@pytest.mark.parametrize("text", DOCUMENTS)
def test_c_and_pure_loaders_read_the_same_values_and_types(text: str) -> None:
    def typed(value: Any) -> Any:  # equal values of different types (True == 1) must not pass as the same
        if isinstance(value, dict):
            return {typed(k): typed(v) for k, v in value.items()}
        if isinstance(value, list):
            return [typed(v) for v in value]
        return (type(value).__name__, value)

    pure = yaml.load(text, Loader=PureYamlLoader)
    assert typed(yaml.load(text, Loader=YamlLoader)) == typed(pure)
    assert typed(load_yaml(text)) == typed(pure)
    fast_manifest, pure_manifest = manifest_loaders()
    kept = yaml.load(text, Loader=fast_manifest)
    assert typed(kept) == typed(yaml.load(text, Loader=pure_manifest))
    assert [getattr(v, "written", None) for v in _leaves(kept)] == [
        getattr(v, "written", None) for v in _leaves(yaml.load(text, Loader=pure_manifest))]


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def test_yaml_1_1_words_stay_text_and_1e_3_is_a_number() -> None:
    data = load_yaml(DOCUMENTS[0])
    assert data == {"a": "yes", "b": "No", "c": "on", "d": "OFF", "e": "y", "f": True, "g": False, "h": 0.001,
                    "i": 2, "j": "n", "k": True}
    assert yaml.safe_load("a: yes") == {"a": True}  # PyYAML's own loaders are left as they are
    if yaml.__with_libyaml__:
        assert yaml.load("a: yes", Loader=yaml.CSafeLoader) == {"a": True}


def _error(loader: Any, text: str) -> tuple[str, Any, Any, Any]:
    with pytest.raises(yaml.YAMLError) as info:
        yaml.load(text, Loader=loader) if loader is not None else load_yaml(text)
    exc = info.value
    mark = getattr(exc, "problem_mark", None)
    return (type(exc).__name__, getattr(exc, "problem", str(exc)), None if mark is None else (mark.line, mark.column),
            getattr(exc, "context", None))


@pytest.mark.parametrize("text", BROKEN)
def test_a_refused_document_keeps_the_pure_loaders_message_and_position(text: str) -> None:
    assert _error(None, text) == _error(PureYamlLoader, text)
    with pytest.raises(yaml.YAMLError) as fast:  # the C parser refuses it too, often in other words
        yaml.load(text, Loader=YamlLoader)
    assert fast.value is not None


def test_thresholds_errors_name_line_and_column_as_before(tmp_path: Path) -> None:
    path = tmp_path / "thresholds.yaml"
    path.write_text("version: 1\nmodel:\n  adapter: open_clip\n checkpoint: x\n")
    with pytest.raises(ConfigError) as info:
        read_yaml(path, Where(str(path)))
    assert str(info.value) == (f"{path}: invalid YAML at line 4, column 2: expected <block end>, but found "
                               "'<block mapping start>' (while parsing a block mapping)")
    path.write_text("suites:\n  a: 1\n  b: 2\n  a: 3\n")
    with pytest.raises(ConfigError, match=r"invalid YAML at line 4, column 3: duplicate key 'a' \(first given at "
                                          r"line 2\)"):
        read_yaml(path, Where(str(path)))
