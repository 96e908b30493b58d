"The package's layout: dependencies between collab_nb modules point one way, and library modules hold no CLI code."
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1]/'collab_nb'
HAND_KEPT = {'__init__', 'all', '_modidx'}

def _modules()->dict:
    "`{dotted name: path}` of the package's exported modules"
    res = {}
    for p in PKG.rglob('*.py'):
        rel = p.relative_to(PKG).with_suffix('')
        if rel.name in HAND_KEPT or '__pycache__' in rel.parts: continue
        res['.'.join(rel.parts)] = p
    return res

def _imports(name:str, path:Path, mods:set)->set:
    "The collab_nb modules `path` imports at any depth of its code (top level or inside functions)"
    pkg = name.split('.')[:-1]
    res = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = pkg[:len(pkg)-node.level+1] if node.level else []
            parts = base + (node.module.split('.') if node.module else [])
            if node.level == 0 and parts[:1] != ['collab_nb']: continue
            if parts[:1] == ['collab_nb']: parts = parts[1:]
            cands = ['.'.join(parts)] + ['.'.join(parts + [a.name]) for a in node.names]
        elif isinstance(node, ast.Import): cands = [a.name.removeprefix('collab_nb.') for a in node.names if a.name.startswith('collab_nb.')]
        else: continue
        res |= {c for c in cands if c in mods and c != name}
    return res

def _graph()->dict:
    mods = _modules()
    return {n: _imports(n, p, set(mods)) for n,p in mods.items()}

def _cycle(g:dict):
    "A cycle in `g` as a list of modules, or None"
    state = {}
    def visit(n, stack):
        state[n] = 1; stack.append(n)
        for m in sorted(g[n]):
            if state.get(m) == 1: return stack[stack.index(m):] + [m]
            if not state.get(m) and (c := visit(m, stack)): return c
        state[n] = 2; stack.pop()
    for n in sorted(g):
        if not state.get(n) and (c := visit(n, [])): return c

def test_cycle_detector_finds_cycles():
    assert _cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert _cycle({'a': {'b'}, 'b': set()}) is None

def test_no_import_cycles():
    g = _graph()
    assert {'data', 'models', 'train', 'cli', 'modelfile'} <= set(g), sorted(g)
    assert _cycle(g) is None, f"import cycle: {' -> '.join(_cycle(g))}"

def test_dependencies_point_one_way():
    g = _graph()
    assert not g['data'] and g['models'] <= {'data'}, (g['data'], g['models'])
    assert 'cli' not in set().union(*(v for k,v in g.items() if k != 'cli')), "a library module imports the CLI"

def test_no_cli_code_in_library_modules():
    for name, p in _modules().items():
        if name == 'cli': continue
        src = p.read_text()
        assert not any(w in src for w in ('argparse', 'anno_parser', 'call_parse', 'CliError')), f"{name} holds command-line code"
