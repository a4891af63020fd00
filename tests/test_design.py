"""The shape of the code: one place decides the model kind, and the LightGBM side never loads torch."""
import json, re, subprocess, sys
import nbformat
from conftest import ROOT

MODE_BRANCH = re.compile(r"model_mode\s*(==|!=|\bin\b|\bnot in\b)|model\.inputs\s*(==|!=)|isinstance\([^)]*(MultiModalNet|ImageClassifier)")
ALLOWED = {'config', 'models', 'fusion'}  # modules, and the notebooks they are exported from


def test_model_kind_is_decided_only_in_config_and_models():
    "No module or report notebook asks which network it holds: only config and the model chapters may."
    hits = [line for line in _code_lines(ALLOWED) if MODE_BRANCH.search(line)]
    assert not hits, "a model_mode branch outside config/models:\n" + '\n'.join(hits)


def test_the_check_itself_finds_a_branch():
    "The pattern above catches the forms the old code used."
    for line in ("if cfg.model_mode == 'multi':", "x if p.cfg.model_mode != 'single' else y", "isinstance(model, MultiModalNet)",
                 "if cfg.model.inputs != 'both':"):
        assert MODE_BRANCH.search(line), line
    assert not MODE_BRANCH.search("'model_mode': cfg.model_mode,")


def loaded_by(modules: list[str], watched: list[str]) -> list[str]:
    "Which of `watched` a fresh Python process has loaded after importing `modules`."
    code = f"import json, sys; import {', '.join(modules)}; print(json.dumps(sorted(m for m in {watched!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_lightgbm_modules_do_not_load_torch():
    "The feature analysis (features, importance, tune_lgbm, analysis) and metrics import without torch or fastai."
    assert loaded_by(['tsic.analysis', 'tsic.importance', 'tsic.tune_lgbm', 'tsic.features', 'tsic.metrics'],
                     ['torch', 'fastai', 'timm']) == []


def test_input_normalisation_is_written_once():
    "Training, prediction and export normalise through `loaders.Normalize`: the arithmetic appears in one module."
    uses = {p.name for p in (ROOT / 'tsic').glob('*.py') if p.name != '_modidx.py'
            for line in p.read_text().splitlines() if re.search(r'(?<!_foreach_)addcmul|255 \*|/ 255|std\)\.view', line)}
    assert uses == {'loaders.py'}, uses
    from tsic.loaders import Normalize
    from tsic.predict import ChartProbabilities
    import torch
    norm = Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    export = ChartProbabilities(torch.nn.Flatten(), norm)   # the exported module normalises with the same object
    torch.testing.assert_close(export(x), torch.softmax(norm(x.float()).flatten(1), 1))


CHECKPOINT_READ = re.compile(r"""\bckpt\s*\[|\bckpt\.get\(|\[['"](window_scaler|renderer|tracker|training|progress)['"]\]|torch\.load\([^)]*(ckpt|checkpoint)""")
PROVENANCE_KEY = re.compile(r"""provenance\s*\[|provenance\.get\(|\.data\.get\(['"]|(?<!data_)source\W*\s*[!=]=\s*['"](arrays|folders|series|given)['"]""")


def _code_lines(skip: set[str]):
    "Every line of tsic's modules and code cells of the notebooks, except those of the modules (and their notebooks) in `skip`."
    for p in sorted((ROOT / 'tsic').glob('*.py')):
        if p.stem not in skip and p.name != '_modidx.py':
            yield from (f"{p.name}:{i}: {line.strip()}" for i, line in enumerate(p.read_text().splitlines(), 1))
    for nb in sorted((ROOT / 'nbs').glob('*.ipynb')):
        cells = nbformat.read(nb, as_version=4).cells
        if any(c.cell_type == 'code' and re.search(rf"#\| default_exp ({'|'.join(skip)})\b", c.source) for c in cells): continue
        for c in cells:
            if c.cell_type == 'code': yield from (f"{nb.name}: {line.strip()}" for line in c.source.splitlines())


def test_checkpoints_and_provenance_are_read_through_their_types():
    """One module knows a checkpoint's keys (`tsic.checkpoint`); everything else reads `Checkpoint` and `Provenance`
    fields. No string-keyed read of a checkpoint or of the data's provenance, and no compare with a source kind's
    name, in any other module or notebook."""
    hits = [line for line in _code_lines({'checkpoint'}) if CHECKPOINT_READ.search(line) or PROVENANCE_KEY.search(line)]
    assert not hits, "checkpoint or provenance read by key outside tsic.checkpoint:\n" + '\n'.join(hits)


def test_the_key_checks_find_planted_reads():
    "The two patterns catch the forms the code used before the typed checkpoint, and pass the typed ones."
    for line in ("scaler = ckpt['window_scaler']", "offsets = ckpt.get('decision_offsets')", "if self.data.get('source') == 'arrays':",
                 "spans = data.provenance.get('renderer', {})", "dated = self.provenance['source'] != 'arrays'",
                 "torch.load(checkpoint, weights_only=True)", "load_checkpoint(last)['tracker']['best_name']",
                 "if p.provenance.source == 'arrays':"):
        assert CHECKPOINT_READ.search(line) or PROVENANCE_KEY.search(line), line
    for line in ("scaler = ckpt.window_scaler", "if self.provenance.encodes_series:", "spans = data.provenance.label_spans()",
                 "name: str = 'arrays',", "load_checkpoint(last).progress.tracker", "if cfg.data_source == 'series':",
                 "metrics['decision_offsets'] = {'offsets': offsets}"):
        assert not (CHECKPOINT_READ.search(line) or PROVENANCE_KEY.search(line)), line


def test_prediction_does_not_import_training():
    "Scoring a checkpoint needs neither the learner nor training: `predict` and `checkpoint` import neither."
    assert loaded_by(['tsic.predict', 'tsic.checkpoint'], ['tsic.learner', 'tsic.train', 'tsic.tune']) == []


def module_notebooks() -> dict[str, str]:
    "Each tsic module and the stem of the notebook it is exported from."
    out = {}
    for nb in sorted((ROOT / 'nbs').glob('[0-9]*.ipynb')):
        for cell in nbformat.read(nb, as_version=4).cells:
            if cell.cell_type == 'code' and (m := re.search(r'#\| default_exp (\w+)', cell.source)): out[m[1]] = nb.stem
    return out


def upward_imports(sources: dict[str, str], notebooks: dict[str, str]) -> list[str]:
    "Imports, at the top or inside a function, of a tsic module whose notebook comes later than the importer's."
    found = []
    for module, code in sources.items():
        for other in set(re.findall(r'(?:from (?:tsic)?\.|import tsic\.)(\w+)', code)) - {module}:
            if other in notebooks and notebooks[other] > notebooks[module]:
                found.append(f"{module} ({notebooks[module]}) imports {other} ({notebooks[other]})")
    return found


def test_notebooks_are_numbered_in_the_order_modules_import_each_other():
    "A module's notebook comes after the notebooks of every module it imports: the docs read from the bottom floor up."
    notebooks = module_notebooks()
    sources = {m: (ROOT / 'tsic' / f'{m}.py').read_text() for m in notebooks}
    assert not upward_imports(sources, notebooks), '\n'.join(upward_imports(sources, notebooks))
    planted = {**sources, 'config': sources['config'] + '\ndef f():\n    from .serve import create_app\n'}  # a lazy upward import
    assert upward_imports(planted, notebooks) == [f"config ({notebooks['config']}) imports serve ({notebooks['serve']})"]


# ---------------------------------------------------------------- one way in: the readers, and one interface to the processes

CHART_MAKING = re.compile(r'(?<![\w.])(decode_chart|draw_windows|render_windows|encode_series|encode_ragged|series_as_windows)\(')
READERS = ('DecodedCharts', 'DrawnCharts', 'series_inputs')  # chart files, OHLCV bars, arrays of series


def chart_makers(sources: dict[str, str], above: set[str]) -> list[str]:
    "Lines of the modules `above` the readers that make a chart (decode, draw, encode) themselves instead of through a reader."
    return [f"{m}: {line.strip()}" for m in sorted(above) for line in sources[m].splitlines()
            if CHART_MAKING.search(line) and not line.lstrip().startswith('def ')]


def test_charts_are_made_only_by_the_readers():
    """Above `readers`, no module decodes, draws or encodes a chart itself: training (`sources`) and prediction
    (`predict`) both go through the readers, so a chart is made one way whichever side asks."""
    notebooks = module_notebooks()
    sources = {m: (ROOT / 'tsic' / f'{m}.py').read_text() for m in notebooks}
    above = {m for m, nb in notebooks.items() if nb > notebooks['readers']}
    assert not chart_makers(sources, above), '\n'.join(chart_makers(sources, above))
    planted = {**sources, 'predict': sources['predict'] + '\nimages = render_windows(bars, ends, spec)\n'}
    assert chart_makers(planted, above) == ['predict: images = render_windows(bars, ends, spec)']


def test_training_and_prediction_share_the_readers():
    "Both `sources` (training) and `predict` import every reader from `tsic.readers` and call it."
    for module in ('sources', 'predict'):
        code = (ROOT / 'tsic' / f'{module}.py').read_text()
        imported = re.search(r'from \.readers import (\([^)]*\)|[^\n]*)', code)
        assert imported, f"{module} does not import from tsic.readers"
        names = {n.strip() for n in imported[1].strip('()').replace('\n', ' ').split(',')}
        for reader in READERS:
            assert reader in names, f"{module} does not import {reader} from tsic.readers"
            assert re.search(rf'(?<![\w.]){reader}(\.of)?\(', code), f"{module} imports {reader} but never calls it"


CAPABILITY = re.compile(r'\.(needs_windows|reads_windows|encodes_series)\b|\bin \w+(\.model)?\.inputs\b')
CAPABILITY_ALLOWED = {'checkpoint', 'readers', 'predict', 'models', 'fusion', 'config'}  # the recipe, the readers, the model


def test_capability_branches_stay_in_the_readers_and_the_model():
    "What a model reads (windows, images, encoded series) is asked only where the input is read (`readers`, `Predictor`'s readers) or the model is built."
    hits = [line for line in _code_lines(CAPABILITY_ALLOWED) if CAPABILITY.search(line)]
    assert not hits, "a capability branch outside the readers and the model:\n" + '\n'.join(hits)
    for line in ("windows = x if p.needs_windows else None", "if data.provenance.encodes_series:", "if 'image' in p.model.inputs:"):
        assert CAPABILITY.search(line), line


DISTRIBUTED = re.compile(r"from (?:tsic)?\.distributed import (?!processes\s*$)|torch\.distributed|\b(LOCAL_)?(WORLD_SIZE|RANK)\b['\"]")


def test_processes_are_seen_through_one_interface():
    """Outside `distributed`, modules import only `processes` from it, and read neither launcher variables nor
    `torch.distributed` themselves."""
    hits = [line for line in _code_lines({'distributed'}) if DISTRIBUTED.search(line.split(': ', 1)[-1])]
    assert not hits, "distributed details outside tsic.distributed:\n" + '\n'.join(hits)
    for line in ("from .distributed import is_main, barrier", "int(os.environ.get('LOCAL_WORLD_SIZE', '1'))", "import torch.distributed as dist"):
        assert DISTRIBUTED.search(line), line
    assert not DISTRIBUTED.search("from .distributed import processes")
