"""The bad-input sweep (issues 15 and 27): one table of bad inputs across `tsic build`, configs, training (`train()`,
`tsic train` and the papermill notebook), walk-forward, feature analysis, evaluation, `tsic predict`, `tsic export` and
`tsic tune`; the single-case tests that were elsewhere (faults, files that are not checkpoints) are rows here.

Each case makes its bad input under `tmp_path` from real files (market bars, configs, chart folders, features CSVs,
checkpoints) and runs the real command: the CLI in-process through `tsic.cli.main` (exit status and stderr as a shell
sees them), the Python entry points directly, the notebook through papermill. It asserts
- the exit status (CLI, papermill) or the exception type (Python),
- a message that names the file / key / line and says what to do (every `--flag` a CLI message suggests must be an
  option of that command),
- that nothing half-written is left: no temporary file of an atomic write, no dataset folder that is neither complete
  (manifest.json) nor resumable (.tsic-build); then, where it is cheap, the input is fixed and the same command rerun
  and must succeed; where a rerun is too dear (training) the case checks that no run folder or output is left instead.
A case whose current behaviour falls short is kept with the assertion it should meet and marked xfail(strict=True).
"""
from __future__ import annotations
import dataclasses, functools, re, shutil, subprocess, traceback
from collections import Counter
from pathlib import Path
from typing import Any, Callable
import numpy as np, pandas as pd, pytest, torch, yaml, PIL.Image
from conftest import ROOT, BIN, config_for

SURFACES = ('build', 'config', 'train', 'papermill', 'walk-forward', 'analysis', 'evaluate', 'predict', 'export', 'tune')
FEATURES = ['log_return', 'hl_range', 'oc_return', 'volume_change', 'ma5_gap', 'ma20_gap', 'volatility20']
OHLCV_NAMES = ['--names', 'timestamp', 'open', 'high', 'low', 'close', 'volume']


# ---------------------------------------------------------------------------------------------------------------------
# The machinery: a case, what running it gave, and the environment its inputs are made in

@dataclasses.dataclass
class Case:
    id: str                                  # e.g. 'build-wrong-separator'
    surface: str                             # one of SURFACES
    make: Callable[['Env'], 'Attempt']       # writes the bad input under env.tmp; returns the command to run
    expect: int | type | tuple               # exit status (CLI, papermill) or exception type(s) (Python call)
    message: tuple[str, ...]                 # regexes the message must match; {name} is re.escape(attempt.names[name])
    xfail: str = ''                          # why the current behaviour falls short of the assertion
    slow: bool = False


@dataclasses.dataclass
class Attempt:
    call: Callable[[], tuple[Any, str]]                  # the bad command: (status, message)
    rerun: Callable[[], tuple[Any, str]] | None = None   # fix the input, run again: must succeed (status 0 / None)
    clean: Callable[[], None] | None = None              # asserts that nothing half-written is left
    names: dict = dataclasses.field(default_factory=dict)
    command: str | None = None                           # CLI subcommand whose options a suggested --flag must be
    foreign: tuple = ()                                  # folders of the user's own, which tsic must leave alone


@functools.lru_cache
def msft() -> pd.DataFrame:
    from tsic.bars import load_msft
    return load_msft()


def bars_text(n: int = 400, start: int = 0, **to_csv) -> str:
    "`n` real daily MSFT bars as CSV text (header line 1, bar i on line i + 2)."
    return msft().iloc[start:start + n].to_csv(**to_csv)


GOOD = bars_text(400)  # 400 bars: train, val and test windows at window 40


def unix_time(unit: str) -> str:
    "The good bars with their timestamps written as Unix time in `unit` ('s', 'ms')."
    bars = msft().iloc[:400].copy()
    bars.index = pd.Index(((bars.index - pd.Timestamp(0)) // pd.Timedelta(1, unit)).astype(str), name='timestamp')
    return bars.to_csv()


def with_offsets(every: int = 2) -> str:
    "The good bars, every `every`-th timestamp written with a UTC offset (+00:00), the others without."
    bars = msft().iloc[:400].copy()
    bars.index = pd.Index([f"{t:%Y-%m-%d}{'+00:00' if i % every else ''}" for i, t in enumerate(bars.index)], name='timestamp')
    return bars.to_csv()


def quoted_dates() -> str:
    "The good bars with dates like '13 Mar, 1986': a quoted field that holds the separator (valid CSV)."
    bars = msft().iloc[:400].copy()
    bars.index = pd.Index(bars.index.strftime('%d %b, %Y'), name='timestamp')
    return bars.to_csv()


def latin1() -> bytes:
    "The good bars with a text column holding an accented letter, encoded as Latin-1."
    return msft().iloc[:400].assign(venue='Bourse de Zürich').to_csv().encode('latin-1')


def constant_prices() -> str:
    bars = msft().iloc[:400].copy()
    bars[['open', 'high', 'low', 'close']] = 25.0
    return bars.to_csv()


def set_fields(text: str, line: int, **values) -> str:
    "`text` with fields of CSV line `line` (1-based) replaced: columns timestamp, open, high, low, close, volume."
    lines = text.splitlines()
    fields = lines[line - 1].split(',')
    for k, v in values.items(): fields[['timestamp', 'open', 'high', 'low', 'close', 'volume'].index(k)] = str(v)
    lines[line - 1] = ','.join(fields)
    return '\n'.join(lines) + '\n'


def edit_lines(text: str, fn) -> str:
    lines = text.splitlines(); fn(lines)
    return '\n'.join(lines) + '\n'


def write(path: Path, content) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes): path.write_bytes(content)
    else: path.write_text(content)
    return path


def png_bytes(size=48) -> bytes:
    import io
    buf = io.BytesIO(); PIL.Image.new('RGB', (size, size), 'white').save(buf, format='png')
    return buf.getvalue()


def api(fn, *args, **kwargs) -> Callable[[], tuple[Any, str]]:
    "A Python call as an attempt: (None, '') on success, else (exception type, message with its notes)."
    def call():
        try: fn(*args, **kwargs)
        except Exception as e:
            return type(e), '\n'.join([str(e), *getattr(e, '__notes__', [])])
        return None, ''
    return call


class Env:
    "Where a case makes its inputs: `tmp` (its own tmp_path), the good files, and the session fixtures on demand."
    def __init__(self, request, tmp: Path, capsys):
        self.request, self.tmp, self.capsys = request, tmp, capsys

    @functools.cached_property
    def good_csv(self) -> Path: return write(self.tmp / 'good.csv', GOOD)

    @functools.cached_property
    def checkpoint(self) -> Path: return self.request.getfixturevalue('checkpoint')

    @functools.cached_property
    def small_dataset(self) -> Path: return self.request.getfixturevalue('small_dataset')

    def dataset(self, name: str = 'msft_1d_winsize40') -> Path:
        "A private copy of the session's chart dataset (built by tsic from 400 MSFT bars, 48 px)."
        return Path(shutil.copytree(self.small_dataset, self.tmp / 'charts' / name))

    def features_csv(self) -> Path:
        return Path(shutil.copy(self.small_dataset.parent / 'msft_1d_features.csv', self.tmp / 'features.csv'))

    def cli(self, *args) -> Callable[[], tuple[Any, str]]:
        "`tsic ARGS` in-process: (exit status, stderr); (exception type, traceback) when an exception escapes `main`."
        def call():
            from tsic.cli import main
            self.capsys.readouterr()
            try: code = main([str(a) for a in args])
            except SystemExit as e: code = e.code
            except Exception as e:
                return type(e), self.capsys.readouterr().err + ''.join(traceback.format_exception(e))
            out = self.capsys.readouterr()
            return code, out.err if code else out.out + out.err
        return call


def fill(pattern: str, names: dict) -> str:
    "The regex `pattern` with each {name} of `names` replaced by the escaped value."
    return re.sub(r'\{(\w+)\}', lambda m: re.escape(str(names[m[1]])) if m[1] in names else m[0], pattern)


@functools.lru_cache
def cli_options(command: str) -> frozenset[str]:
    from tsic.cli import build_parser
    sub = next(a for a in build_parser()._actions if hasattr(a, 'choices') and isinstance(a.choices, dict))
    return frozenset(sub.choices[command]._option_string_actions)


def nothing_half_written(root: Path, foreign=()):
    "No temporary file of an atomic write, and every dataset folder complete or resumable."
    tmp = [p for p in root.rglob('.*.tmp')]
    assert not tmp, f"temporary files left behind: {tmp}"
    for folder in root.rglob('*_winsize*'):
        if folder.is_dir() and folder not in foreign:
            assert (folder / 'manifest.json').exists() or (folder / '.tsic-build').exists(), \
                f"{folder}: a dataset folder that is neither complete (manifest.json) nor resumable (.tsic-build)"


# ---------------------------------------------------------------------------------------------------------------------
# tsic build: OHLCV files

BUILD_FLAGS = ('--image-size', 40, '--workers', 1)


def build_case(id, text=GOOD, flags=(), message=(), fix_flags=None, prepare=None, fix=None, xfail='', name='bars.csv',
               foreign=None, expect=2, clean=None) -> Case:
    """`tsic build SRC` of the CSV `text` (str, bytes, None: no file, or a function of env) with `flags`.
    Rerun: `fix(env)` if given, else the good bars written to SRC; with `fix_flags`, SRC is kept and these flags used.
    `expect` 0: the build must succeed (a damaged build restored); `clean(env)` then checks what it left."""
    def make(env: Env) -> Attempt:
        src, data = env.tmp / name, env.tmp / 'data'
        if prepare: prepare(env, src)
        content = text(env) if callable(text) else text
        if content is not None: write(src, content)
        given = flags(env) if callable(flags) else flags
        base = ('build', src, '--data-dir', data, *BUILD_FLAGS)
        def rerun():
            if fix: fix(env)
            elif fix_flags is None: write(src, GOOD)
            status, message = env.cli(*base, *(given if fix_flags is None else fix_flags))()
            assert status != 0 or list(data.glob('*/manifest.json')), "the rerun wrote no complete dataset"
            return status, message
        return Attempt(env.cli(*base, *given), rerun, (lambda: clean(env)) if clean else None, names={'src': src, 'data': data},
                       command='build', foreign=(data / foreign,) if foreign else ())
    return Case(id, 'build', make, expect, tuple(message), xfail)


def gappy(env) -> str:
    "400 daily bars in blocks of 30, each block a month after the last: no 65-bar stretch without a gap."
    bars = msft().iloc[:400].copy()
    bars.index = bars.index + pd.to_timedelta((np.arange(400) // 30) * 30, 'D')
    return bars.to_csv()


def hourly(n=100) -> str:
    bars = msft().iloc[300:300 + n].copy()
    bars.index = pd.date_range('2020-01-01', periods=n, freq='h', name='timestamp')
    return bars.to_csv()


def held_build_lock(env, src):
    "The build lock of data/bars_1d_winsize40 held, as a build in progress holds it (by this process, until the test ends)."
    from tsic.build import build_lock
    env.lock = build_lock(env.tmp / 'data' / 'bars_1d_winsize40'); env.lock.__enter__()
    env.request.addfinalizer(lambda: env.lock.__exit__(None, None, None))


def build_good_first(env, src):
    write(src, GOOD)
    assert env.cli('build', src, '--data-dir', env.tmp / 'data', *BUILD_FLAGS)()[0] == 0


def foreign_folder(env, src):
    write(env.tmp / 'data' / 'bars_1d_winsize40' / 'notes.txt', 'my own charts\n')


def a_file(env) -> Path: return write(env.tmp / 'afile.csv', 'not a folder\n')


BUILT = 'bars_1d_winsize40'  # the folder build_good_first makes


def damage_build(damage):
    "Build the good bars, then `damage(folder)` the finished build (its manifest left as it was)."
    def prepare(env, src):
        build_good_first(env, src); damage(env.tmp / 'data' / BUILT)
    return prepare


def under_umask(mask: int):
    "Prepare: run the command under the umask `mask` (restored when the test ends)."
    import os
    def prepare(env, src):
        old = os.umask(mask); env.request.addfinalizer(lambda: os.umask(old))
    return prepare


def modes_follow_umask(mask: int):
    "Clean: every file the build wrote (manifest, CSVs, charts) has the mode a plain open() gives under `mask`, 0666 less it."
    def check(env):
        files = [p for p in (env.tmp / 'data').rglob('*') if p.is_file() and not p.name.endswith('.lock')]
        wrong = sorted({f"{p.name}: {p.stat().st_mode & 0o777:o}" for p in files if p.stat().st_mode & 0o777 != 0o666 & ~mask})
        assert files and not wrong, f"modes other than {0o666 & ~mask:o} under umask {mask:03o}: {wrong[:5]}"
    return check


def every_listed_image_there(env):
    "The build's files are the ones its manifest lists, per split and class."
    import json
    from tsic.build import count_differences, image_counts
    folder = env.tmp / 'data' / BUILT
    assert not count_differences(json.loads((folder / 'manifest.json').read_text())['counts'], image_counts(folder))


def delete_every_other(folder):
    for p in sorted(folder.rglob('*.png'))[::2][:200]: p.unlink()


LOCATED = r'{src}'  # the message names the file

NAME_RULE = r'becomes part of file and folder names'

BUILD = [
    build_case('build-dataset-name-with-slash', flags=('--dataset', 'a/b'), message=[r"dataset name 'a/b'", NAME_RULE], fix_flags=('--dataset', 'ab')),
    build_case('build-dataset-name-escapes', flags=('--dataset', '../../escape'), message=[r"'\.\./\.\./escape'", NAME_RULE],
               fix_flags=('--dataset', 'escape')),
    build_case('build-dataset-name-too-long', flags=('--dataset', 'x' * 228), message=[r"'x{228}'", r'at most 64 characters'],
               fix_flags=('--dataset', 'x' * 64)),
    build_case('build-class-name-nested', flags=('--class-names', 'down/short', 'flat', 'up'), message=[r"'down/short'", NAME_RULE],
               fix_flags=('--class-names', 'short', 'flat', 'up')),
    build_case('build-class-name-empty', flags=('--class-names', '', 'flat', 'up'), message=[r"class name ''", NAME_RULE],
               fix_flags=('--class-names', 'down', 'flat', 'up')),
    build_case('build-empty-file', '', message=[r'{src}: the file is empty', r'give a CSV of OHLCV bars']),
    build_case('build-blank-lines-only', '\n  \n\n', message=[r'{src}: the file is empty', r'give a CSV']),
    build_case('build-header-only', 'timestamp,open,high,low,close,volume\n',
               message=[r'{src}: a header row and no bars', r'\b(add|give|append)\b']),
    build_case('build-binary-file', png_bytes(), message=[r'{src}: not a text file', r'give a CSV']),
    build_case('build-missing-file', None, message=[r'OHLCV file not found: {src}']),
    build_case('build-wrong-separator', bars_text(sep=';'), fix_flags=('--sep', ';'),
               message=[LOCATED, r"csv\.sep ','", r"does not split line 1", r"--sep ';'"]),
    build_case('build-missing-column', msft().iloc[:400].drop(columns='volume').to_csv(),
               message=[LOCATED, r"no column \['volume'\]", r'csv\.names \(--names\)']),
    build_case('build-short-line', edit_lines(GOOD, lambda l: l.__setitem__(11, l[11].rsplit(',', 1)[0])),
               message=[LOCATED, r'1 lines have a field count other than 6 \(lines 12\b', r'fix the file or csv\.names']),
    build_case('build-header-but-names-given', GOOD, flags=OHLCV_NAMES, fix_flags=(),
               message=[LOCATED, r'line 1 looks like a header row', r'drop csv\.names']),
    build_case('build-no-header-row', GOOD.split('\n', 1)[1], fix_flags=OHLCV_NAMES,
               message=[LOCATED, r'line 1 .* is data, not a header row', r'--names timestamp open high low close volume']),
    build_case('build-names-count-wrong', GOOD.split('\n', 1)[1], flags=OHLCV_NAMES[:-1], fix_flags=OHLCV_NAMES,
               message=[LOCATED, r'field count other than 5 \(lines 1, 2', r'fix the file or csv\.names']),
    build_case('build-unreadable-timestamp', set_fields(GOOD, 12, timestamp='yesterday'),
               message=[LOCATED, r"1 timestamps cannot be read \(line 12, e\.g\. 'yesterday'\)", r'--time-format']),
    build_case('build-wrong-time-format', GOOD, flags=('--time-format', '%d.%m.%Y'), fix_flags=(),
               message=[LOCATED, r'400 timestamps cannot be read \(lines 2, 3', r'set csv\.time_format \(--time-format\)']),
    build_case('build-time-column-missing', GOOD, flags=('--time-column', 'when'), fix_flags=(),
               message=[LOCATED, r"time column 'when' not among \['timestamp'"]),
    build_case('build-text-price', set_fields(GOOD, 12, close='abc'), fix_flags=('--repair',),
               message=[LOCATED, r'1 bars with NaN or infinite values \(line 12\)', r'fix the file or .*--repair']),
    build_case('build-empty-price', set_fields(GOOD, 30, high=''),
               message=[LOCATED, r'NaN or infinite values \(line 30\)', r'--repair']),
    build_case('build-infinite-price', set_fields(GOOD, 31, low='inf'),
               message=[LOCATED, r'NaN or infinite values \(line 31\)', r'--repair']),
    build_case('build-zero-price', set_fields(GOOD, 40, open=0, high=0, low=0, close=0), fix_flags=('--repair',),
               message=[LOCATED, r'1 bars with a zero or negative price \(line 40\)', r'--repair']),
    build_case('build-negative-price', set_fields(GOOD, 50, low=-1),
               message=[LOCATED, r'zero or negative price \(line 50\)', r'--repair']),
    build_case('build-negative-volume', set_fields(GOOD, 60, volume=-100),
               message=[LOCATED, r'negative volume \(line 60\)', r'--repair']),
    build_case('build-high-below-low', set_fields(GOOD, 12, high=float(msft().low.iloc[10]) - 1), fix_flags=('--repair',),
               message=[LOCATED, r'high below open/close or low above them \(line 12\)', r'fix the file or .*--repair']),
    build_case('build-duplicate-timestamp', edit_lines(GOOD, lambda l: l.insert(100, l[99])), fix_flags=('--repair',),
               message=[LOCATED, r'1 bars with a duplicate timestamp \(line 101\)', r'--repair']),
    build_case('build-unsorted-timestamps', edit_lines(GOOD, lambda l: l.__setitem__(slice(99, 101), [l[100], l[99]])),
               message=[LOCATED, r'out of time order \(earlier than the bar before\) \(line 101\)', r'--repair']),
    build_case('build-too-few-bars', bars_text(30),
               message=[r'\bbars: 30 bars give 0 labelled windows of 40 bars', r'use more bars or a shorter window']),
    build_case('build-one-bar', bars_text(1), message=[r'\bbars\b|{src}', r'\b1 bar\b', r'more bars|longer file']),
    build_case('build-splits-left-empty', bars_text(300),
               message=[r'\bbars\b|{src}', r'\bval\b.*\btest\b|\btest\b.*\bval\b', r'more bars|shorter window']),
    build_case('build-gaps-everywhere', gappy, fix_flags=('--max-gap', '40d'),
               message=[r'\bbars: 400 bars give 0 labelled windows', r'gaps longer than 14 days', r'use more bars']),
    build_case('build-timeframe-disagrees', GOOD, flags=('--timeframe', '15m'), fix_flags=(),
               message=[r"bars are 1d apart \(median spacing\), sparser than '15m'", r'leave build\.timeframe \(--timeframe\) unset']),
    build_case('build-timeframe-malformed', GOOD, flags=('--timeframe', '15x'), fix_flags=(),
               message=[r"timeframe '15x' is not like '15m', '1h' or '1d'"]),
    build_case('build-resample-without-timeframe', GOOD, flags=('--resample',), fix_flags=(),
               message=[LOCATED, r'build\.resample \(--resample\) needs build\.timeframe \(--timeframe\)']),
    build_case('build-resample-to-shorter', GOOD, flags=('--resample', '--timeframe', '15m'), fix_flags=(),
               message=[LOCATED, r"cannot resample bars .* to the shorter timeframe '15m'", r'--timeframe']),
    build_case('build-fractions-not-one', GOOD, flags=('--fractions', 0.5, 0.6, 0.2), fix_flags=(),
               message=[r'build\.fractions \(--fractions\): three positive numbers .* sum to 1, got \[0\.5, 0\.6, 0\.2\]']),
    build_case('build-image-smaller-than-window', GOOD, flags=('--image-size', 20), fix_flags=(),
               message=[r'image_size 20 px cannot draw 40 bars', r'use image_size >= 40']),
    build_case('build-unknown-chart', GOOD, flags=('--chart', 'bars'), fix_flags=(),
               message=[r"chart 'bars' is not a chart kind", r"joined by '\+'"]),
    build_case('build-max-gap-malformed', GOOD, flags=('--max-gap', 'soon'), fix_flags=(),
               message=[r'build\.max_gap', r"'soon'", r"such as '4d'"]),
    build_case('build-max-gap-negative', GOOD, flags=('--max-gap=-2d',), fix_flags=(),
               message=[r"build\.max_gap\b.*: a positive duration such as '4d' or '36h', got '-2d'"]),
    build_case('build-folder-not-built-by-tsic', GOOD, prepare=foreign_folder, foreign='bars_1d_winsize40',
               fix=lambda env: shutil.rmtree(env.tmp / 'data' / 'bars_1d_winsize40'),
               message=[r'{data}/bars_1d_winsize40 exists and was not built by tsic', r'move it away or choose another data_dir']),
    build_case('build-source-changed', bars_text(401), prepare=build_good_first, fix_flags=('--rebuild',),
               message=[r'{data}/bars_1d_winsize40 holds a complete build whose source changed', r'--rebuild']),
    build_case('build-workers-zero', GOOD, flags=('--workers', 0), fix_flags=(), message=[r'argument --workers: at least 1, got 0']),
    build_case('build-workers-negative', GOOD, flags=('--workers', -3), fix_flags=(), message=[r'argument --workers: at least 1, got -3']),
    build_case('build-chunk-zero', GOOD, flags=('--chunk', 0), fix_flags=(), message=[r'argument --chunk: at least 1, got 0']),
    build_case('build-chunk-negative', GOOD, flags=('--chunk=-5',), fix_flags=(), message=[r'argument --chunk: at least 1, got -5']),
    build_case('build-chunk-not-a-number', GOOD, flags=('--chunk', 'many'), fix_flags=(), message=[r"argument --chunk: expected a whole number, got 'many'"]),
    build_case('build-image-size-huge', GOOD, flags=('--image-size', 5000), fix_flags=(),
               message=[r'image_size 5000: charts are 16 to 1024 px a side', r'71\.5 MiB per chart', r'choose a size']),
    build_case('build-image-size-one', GOOD, flags=('--image-size', 1), fix_flags=(), message=[r'image_size 1: charts are 16 to 1024 px']),
    # a complete manifest means complete files: a rerun writes what is missing (status 0) and the files agree with it
    build_case('build-images-deleted-after-build', GOOD, prepare=damage_build(delete_every_other), expect=0, fix_flags=(),
               message=[r'248 images \(124 written by the run that finished it\)'], clean=every_listed_image_there),
    build_case('build-class-folder-deleted-after-build', GOOD, prepare=damage_build(lambda f: rm(f / 'test' / 'up')), expect=0,
               fix_flags=(), message=[r'248 images \([1-9]\d* written by the run that finished it\)'], clean=every_listed_image_there),
    build_case('build-split-folder-deleted-after-build', GOOD, prepare=damage_build(lambda f: rm(f / 'val')), expect=0,
               fix_flags=(), message=[r'248 images \([1-9]\d* written by the run that finished it\)'], clean=every_listed_image_there),
    # one data folder, many builds: the CSVs named by dataset and timeframe belong to one build
    build_case('build-second-window-same-dataset', GOOD, prepare=build_good_first, flags=('--window', 20),
               fix_flags=('--window', 20, '--dataset', 'bars20'),
               message=[r'{data}/bars_1d_features\.csv and fix_labeled_data_bars_1d\.csv belong to the build in {data}/bars_1d_winsize40',
                        r'window: 40 → 20', r'--data-dir', r'--dataset']),
    build_case('build-second-source-same-dataset', bars_text(400, 100), prepare=build_good_first, flags=('--window', 30),
               fix_flags=('--window', 30, '--dataset', 'other'),
               message=[r'fix_labeled_data_bars_1d\.csv belong to the build in {data}/bars_1d_winsize40', r'--data-dir']),
    # messages a user can act on (CSV formats)
    build_case('build-decimal-comma', bars_text(sep=';', decimal=','), flags=('--sep', ';'), fix_flags=('--sep', ';', '--decimal', ','),
               message=[LOCATED, r"numbers such as '0,0672' \(line 2\) have a comma", r"set csv\.decimal \(--decimal ','\)"]),
    build_case('build-decimal-comma-and-comma-separator', GOOD, flags=('--decimal', ','), fix_flags=(),
               message=[r"build\.csv\.decimal and build\.csv\.sep are both ','", r"--sep ';'"]),
    build_case('build-unix-seconds', unix_time('s'), fix_flags=('--time-format', 's'),
               message=[LOCATED, r"e\.g\. '511056000'", r'they look like Unix time', r"csv\.time_format \(--time-format\) to 's' or 'ms'"]),
    build_case('build-unix-milliseconds', unix_time('ms'), fix_flags=('--time-format', 'ms'),
               message=[LOCATED, r'they look like Unix time', r"'s' or 'ms'"]),
    build_case('build-unix-percent-s', unix_time('s'), flags=('--time-format', '%s'), expect=0, fix_flags=('--time-format', '%s'),
               message=[r'248 images']),
    build_case('build-mixed-utc-offsets', with_offsets(), fix=lambda env: write(env.tmp / 'bars.csv', GOOD),
               message=[LOCATED, r"the timestamps mix values with a UTC offset and values without \('1986-03-13' and '1986-03-14\+00:00'\)"]),
    build_case('build-quoted-separator', quoted_dates(), expect=0, fix_flags=(), message=[r'248 images']),
    build_case('build-latin-1', latin1(), fix_flags=('--encoding', 'latin-1'),
               message=[LOCATED, r'not utf-8 text \(byte 0xfc on line 2\)', r"set csv\.encoding \(--encoding\), e\.g\. 'latin-1'"]),
    build_case('build-unknown-encoding', GOOD, flags=('--encoding', 'klingon'), fix_flags=(),
               message=[r"build\.csv\.encoding \(--encoding\): unknown encoding 'klingon'"]),
    build_case('build-constant-prices', constant_prices(),
               message=[r'the closes do not change inside \d+ of the \d+ windows of 40 bars', r'constant prices']),
    # files others can read: what a build writes follows the umask like any other tool's
    build_case('build-files-follow-umask-022', GOOD, prepare=under_umask(0o022), expect=0, fix_flags=(), message=[r'248 images'],
               clean=modes_follow_umask(0o022)),
    build_case('build-files-follow-umask-077', GOOD, prepare=under_umask(0o077), expect=0, fix_flags=(), message=[r'248 images'],
               clean=modes_follow_umask(0o077)),
    build_case('build-files-follow-umask-002', GOOD, prepare=under_umask(0o002), expect=0, fix_flags=(), message=[r'248 images'],
               clean=modes_follow_umask(0o002)),
    build_case('build-folder-locked', GOOD, flags=('--lock-timeout', 1), prepare=held_build_lock,
               fix=lambda env: env.lock.__exit__(None, None, None),
               message=[r'{data}/bars_1d_winsize40: another build \(PID \d+\) holds the lock', r'gave up after 1 s', r'--lock-timeout']),
    build_case('build-data-dir-is-a-file', GOOD, flags=lambda env: ('--data-dir', a_file(env) / 'data'), fix_flags=(),
               message=[r'afile\.csv', r'folder']),
]


# ---------------------------------------------------------------------------------------------------------------------
# configs: through `tsic build --config` (exit status 2) and load_config

def good_config(env) -> dict:
    return {'datasets': ['bars'], 'data_dir': str(env.tmp / 'data'), 'image_size': 40, 'num_classes': 3,
            'class_names': ['down', 'flat', 'up'], 'build': {'sources': {'bars': str(env.good_csv)}}}


def config_case(id, change=None, message=(), raw=None, xfail='', write_file=True, folder=False) -> Case:
    """`tsic build --config CFG` where CFG is the good config changed by `change(cfg, env)`, or the YAML text `raw`.
    Rerun: the good config written to CFG."""
    def make(env: Env) -> Attempt:
        path = env.tmp / 'config.yaml'
        if folder: path.mkdir()  # a folder where the config file should be
        elif write_file:
            if raw is not None: write(path, raw)
            else:
                cfg = good_config(env); change(cfg, env); write(path, yaml.safe_dump(cfg))
        def rerun():
            if path.is_dir(): path.rmdir()
            write(path, yaml.safe_dump(good_config(env)))
            return env.cli('build', '--config', path, '--workers', 1)()
        return Attempt(env.cli('build', '--config', path, '--workers', 1), rerun, names={'cfg': path}, command='build')
    return Case(id, 'config', make, 2, tuple(message), xfail)


def config_api_case(id, change, message, expect=None, xfail='') -> Case:
    "load_config(CFG) of the good config changed by `change`; rerun: the good config loads."
    from tsic.config import ConfigError
    def make(env: Env) -> Attempt:
        from tsic.config import load_config
        path = env.tmp / 'config.yaml'
        cfg = good_config(env); change(cfg, env); write(path, yaml.safe_dump(cfg))
        def rerun():
            write(path, yaml.safe_dump(good_config(env))); return api(load_config, path)()
        return Attempt(api(load_config, path), rerun, names={'cfg': path})
    return Case(id, 'config', make, expect or ConfigError, tuple(message), xfail)


def setter(**values):
    def change(cfg, env): cfg.update(values)
    return change


def build_setter(**values):
    def change(cfg, env): cfg['build'].update(values)
    return change


CONFIG = [
    config_case('config-one-class', setter(class_names=['flat'], num_classes=1), message=[r"class_names \['flat'\]", r'at least two classes']),
    config_case('config-zero-classes', setter(class_names=[], num_classes=0), message=[r'num_classes: must be > 0, got 0']),
    config_case('config-class-name-with-slash', setter(class_names=['down/short', 'flat', 'up']), message=[r"'down/short'", NAME_RULE]),
    config_case('config-class-name-dot-dot', setter(class_names=['..', 'flat', 'up']), message=[r"class name '\.\.'", NAME_RULE]),
    config_case('config-dataset-name-escapes', setter(datasets=['../../escape']), message=[r"'\.\./\.\./escape'", NAME_RULE]),
    config_case('config-dataset-name-with-space', setter(datasets=['my bars']), message=[r"'my bars'", NAME_RULE, r'rename it']),
    config_case('config-unknown-key', setter(image_sise=40),
                message=[r"Unknown config key 'image_sise'\. Did you mean 'image_size'\?"]),
    config_case('config-unknown-nested-key', build_setter(windw=20),
                message=[r"Unknown config key 'build\.windw'\. Did you mean 'window'\?"]),
    config_case('config-string-for-int', setter(image_size='big'), message=[r"image_size: expected int, got str 'big'"]),
    config_case('config-bool-for-int', setter(image_size=True), message=[r'image_size: expected int, got bool True']),
    config_case('config-scalar-for-list', setter(class_names='down'), message=[r"class_names: expected a list, got 'down'"]),
    config_case('config-scalar-for-section', setter(build=5), message=[r'build: expected a mapping, got 5']),
    config_case('config-number-for-dataset-dir', setter(dataset_bars_dir=5), message=[r'dataset_bars_dir: expected str, got int 5']),
    config_case('config-negative-size', setter(image_size=-40), message=[r'image_size: must be > 0, got -40']),
    config_case('config-fraction-out-of-range', setter(val_fraction=1.5), message=[r'val_fraction: must be in \[0, 1\), got 1\.5']),
    config_case('config-unknown-choice', build_setter(label_rule='median'),
                message=[r"build\.label_rule: 'median' is not one of 'zscore', 'threshold', 'quantile'"]),
    config_case('config-class-count-disagrees', setter(num_classes=2),
                message=[r'num_classes is 2 but class_names has 3 entries', r'make them agree']),
    config_case('config-two-classes-for-build', setter(num_classes=2, class_names=['down', 'up']),
                message=[r'labels are down/flat/up: give 3 class_names, got \[.down., .up.\]']),
    config_case('config-duplicate-class-names', setter(class_names=['down', 'down', 'up']),
                message=[r"class_names has duplicates: \['down', 'down', 'up'\]"]),
    config_case('config-no-datasets', setter(datasets=[]), message=[r'datasets: list at least one dataset name']),
    config_case('config-dataset-without-source', setter(datasets=['spy']),
                message=[r"dataset 'spy' has no OHLCV file: add build\.sources: \{spy: <csv path>\}"]),
    config_case('config-source-file-missing', build_setter(sources={'bars': '/nonexistent/bars.csv'}),
                message=[r'OHLCV file not found: /nonexistent/bars\.csv']),
    config_case('config-purge-too-small', build_setter(purge=10),
                message=[r'build\.purge is 10: at least window \+ horizon = 45']),
    config_case('config-quantiles-not-increasing', build_setter(quantiles=[0.7, 0.3]),
                message=[r'build\.quantiles: two increasing numbers in \(0, 1\), got \[0\.7, 0\.3\]']),
    config_case('config-top-level-not-mapping', raw='- datasets\n- image_size\n',
                message=[r'{cfg}: the top level must be a mapping of keys']),
    config_case('config-yaml-syntax-error', raw='datasets: [bars\nimage_size: 40\n',
                message=[r'{cfg}', r'line \d+', r'\bfix\b']),
    config_case('config-file-missing', write_file=False, message=[r'Config file not found: {cfg}']),
    config_case('config-duplicate-key', raw='datasets: [bars]\nimage_size: 40\nimage_size: 48\n',
                message=[r'{cfg}', r"key 'image_size' given twice \(lines 2 and 3\); keep one"]),
    config_case('config-duplicate-nested-key', raw='datasets: [bars]\nbuild:\n  window: 20\n  horizon: 4\n  window: 30\n',
                message=[r'{cfg}', r"key 'window' given twice \(lines 3 and 5\)"]),
    config_case('config-dataset-listed-twice', setter(datasets=['bars', 'bars']),
                message=[r"datasets lists 'bars' more than once", r'list each dataset once']),
    config_case('config-image-size-one', setter(image_size=1), message=[r'image_size 1: charts are 16 to 1024 px a side']),
    config_case('config-image-size-huge', setter(image_size=5000), message=[r'image_size 5000: charts are 16 to 1024 px', r'MiB per chart']),
    config_case('config-is-a-folder', folder=True, message=[r'{cfg} is a folder: give the YAML config file']),
    config_api_case('config-api-feature-dim-disagrees',
                    setter(model={'feature_dim': 3}, timeseries={'feature_columns': ['log_return']}),
                    message=[r'model\.feature_dim is 3 but timeseries\.feature_columns lists 1 columns', r'remove model\.feature_dim']),
    config_api_case('config-api-unfreeze-out-of-order',
                    setter(auto_unfreeze={'stage1_epoch': 5, 'stage2_epoch': 3, 'stage3_epoch': 9}),
                    message=[r'auto_unfreeze: stages must be in order, got 5, 3, 9']),
    config_api_case('config-api-wrong-type-nested', setter(transformer={'heads': 'four'}),
                    message=[r"transformer\.heads: expected int, got str 'four'"]),
]


# ---------------------------------------------------------------------------------------------------------------------
# training through train(): every error comes before the first epoch

def train_case(id, damage=None, message=(), expect=None, overrides=None, multi=False, xfail='', kept=False,
               sample_limit=8, run_dir=None) -> Case:
    """train(cfg, run_dir=RUN) on a private copy of the chart dataset, damaged by `damage(env, folder)` (which may
    return config overrides); RUN is tmp/run or `run_dir(env)`. Clean: RUN is not left behind (a new folder), or with
    `kept` (an earlier run's folder) its files are unchanged."""
    def make(env: Env) -> Attempt:
        from tsic.train import train
        folder = env.dataset()
        settings = dict(tensorboard=False, **(overrides or {}))
        if multi:
            settings.update(model_mode='multi', timeseries={'data_path': str(env.features_csv()), 'feature_columns': FEATURES},
                            transformer={'dim': 16, 'layers': 1, 'heads': 2, 'dropout': 0.1, 'ff_dim': 32})
        run = run_dir(env) if run_dir else env.tmp / 'run'
        changes = damage(env, folder) if damage else None
        settings.update(changes if isinstance(changes, dict) else {})
        before = {p: p.read_bytes() for p in run.rglob('*') if p.is_file()}
        cfg = config_for(folder, **settings)
        def clean():
            if kept:
                after = {p: p.read_bytes() for p in run.rglob('*') if p.is_file()}
                changed = sorted(str(p.relative_to(run)) for p in set(before) | set(after) if before.get(p) != after.get(p))
                assert not changed, f"the refused run changed files of the existing run folder {run}: {changed}"
            else: assert not run.exists(), f"the failed run left {run}: {sorted(run.rglob('*'))}"
        return Attempt(api(train, cfg, run_dir=run, sample_limit=sample_limit), clean=clean,
                       names={'folder': folder, 'run': run, 'tmp': env.tmp})
    from tsic.readers import ChartDataError
    return Case(id, 'train', make, expect or ChartDataError, tuple(message), xfail)


def held_run_lock(env):
    "The run folder tmp/busy locked as a training in progress holds it (the lock held by this process until the test ends)."
    import fcntl, os
    (env.tmp / 'busy').mkdir(exist_ok=True)
    env.lock = open(env.tmp / 'busy' / '.tsic-run.lock', 'a+')
    fcntl.flock(env.lock, fcntl.LOCK_EX | fcntl.LOCK_NB); env.lock.write(f"{os.getpid()}\n"); env.lock.flush()


def pngs(folder: Path, split='train') -> list[Path]: return sorted((folder / split).rglob('*.png'))


def relabel(f: Path, k: int) -> Path: return f.with_name(re.sub(r'_label_\d', f'_label_{k}', f.name))


def corrupt_first(split='val'):
    def damage(env, folder):
        f = pngs(folder, split)[0]; f.write_bytes(f.read_bytes()[:60])
    return damage


def features(edit):
    "Damage: rewrite the features CSV with `edit(df) -> df`."
    def damage(env, folder):
        path = env.tmp / 'features.csv'
        edit(pd.read_csv(path)).to_csv(path, index=False)
    return damage


def earlier_run(env, folder, arch='resnet18', name='last.ckpt') -> Path:
    "A run folder as an earlier run left it: its config.yaml (max_epochs 3) and a checkpoint `name`, returned."
    from tsic.config import save_config
    run = env.tmp / 'run'
    save_config(config_for(folder, tensorboard=False, max_epochs=3, model_architecture_name=arch), write(run / 'config.yaml', ''))
    ck = run / 'checkpoints' / 'single' / arch / name
    ck.parent.mkdir(parents=True); shutil.copy(env.checkpoint, ck)
    return ck


def last_ckpt_is(make_file):
    "Damage: an earlier run whose last.ckpt holds the bytes of `make_file(env)` (a file that is not a tsic checkpoint); resume from it."
    def damage(env, folder):
        earlier_run(env, folder).write_bytes(make_file(env).read_bytes())
        return {'resume_from_checkpoint': 'last.ckpt'}
    return damage


def foreign_last_ckpt(env, folder):
    torch.save({'x': 1}, earlier_run(env, folder))
    return {'resume_from_checkpoint': 'last.ckpt'}


def real_last_ckpt(env, folder):
    return {'resume_from_checkpoint': str(earlier_run(env, folder)), 'model_architecture_name': 'resnet34'}


def old_run(env, folder): earlier_run(env, folder, name='epoch=0000-val_f1=0.5000.ckpt')


def series_source(env, folder):
    src = write(env.tmp / 'bad.csv', set_fields(GOOD, 12, high=float(msft().low.iloc[10]) - 1))
    return {'data_source': 'series', 'datasets': ['bars'], 'image_size': 40, 'build': {'sources': {'bars': str(src)}}}


def rm(path: Path):
    shutil.rmtree(path) if path.is_dir() else path.unlink()


TRAIN = [
    train_case('train-run-folder-in-use', lambda env, f: held_run_lock(env), message=[r'{run}: another training \(PID \d+\) is writing into this run folder',
               r'another run folder'], expect=FileExistsError, kept=True, run_dir=lambda env: env.tmp / 'busy'),
    train_case('train-dataset-folder-missing', lambda env, f: {'datasets': ['spy'], 'dataset_spy_dir': str(env.tmp / 'nowhere')},
               message=[r"Dataset 'spy': folder {tmp}/nowhere not found", r'set dataset_spy_dir']),
    train_case('train-builtin-dataset-misnamed', lambda env, f: {'dataset_msft_dir': str(env.tmp / 'charts2')}, expect=ValueError,
               message=[r"dataset 'msft' is built in and is written as 'msft_1d_winsize40'", r'set dataset_msft_dir to']),
    train_case('train-test-split-missing', lambda env, f: rm(f / 'test'),
               message=[r'{folder}/test is missing', r'needs train/ and test/ folders']),
    train_case('train-test-split-empty', lambda env, f: [rm(d) for d in (f / 'test').iterdir()],
               message=[r'{folder}/test: no images', r'\b(add|build|put|remove)\b']),
    train_case('train-empty-class-folder', lambda env, f: [rm(p) for p in (f / 'test' / 'up').iterdir()],
               message=[r'{folder}/test/up: class folder is empty', r'remove it or add images']),
    train_case('train-unknown-class-folder', lambda env, f: (f / 'train' / 'sideways').mkdir(),
               message=[r"{folder}/train/sideways: unknown class folder 'sideways'", r'Rename the folder or add the class']),
    train_case('train-two-class-config', overrides={'class_names': ['down', 'up'], 'num_classes': 2},
               message=[r"unknown class folder 'flat'", r'add the class to class_names \(and num_classes\)']),
    train_case('train-class-without-images', overrides={'class_names': ['down', 'flat', 'up', 'crash'], 'num_classes': 4},
               message=[r"'crash'", r'no (training )?images', r'\b(add|remove)\b']),
    train_case('train-corrupt-png', corrupt_first('val'),
               message=[r'{folder}/val/.*\.png: cannot read image', r'delete or re-render it']),
    train_case('train-corrupt-png-check-data', corrupt_first('train'), overrides={'check_data': True},
               message=[r'{folder}/train/.*\.png: cannot read image', r'delete or re-render it']),
    train_case('train-mixed-size-images', lambda env, f: PIL.Image.new('RGB', (64, 64)).save(pngs(f)[0]),
               overrides={'check_data': True}, message=[r'images have mixed sizes: .*48x48.*64x64', r're-render them with one setting']),
    train_case('train-misnamed-file', lambda env, f: pngs(f)[0].rename(pngs(f)[0].with_name('chart_0001.png')),
               message=[r'chart_0001\.png: expected a name like']),
    train_case('train-non-image-file', lambda env, f: write(f / 'train' / 'up' / 'notes.txt', 'x'),
               message=[r'{folder}/train/up/notes\.txt: not an image file', r'move it out of the dataset']),
    train_case('train-file-outside-class-folder', lambda env, f: shutil.copy(pngs(f)[0], f / 'train'),
               message=[r'{folder}/train/.*\.png: files must sit in a class folder']),
    train_case('train-label-disagrees-with-folder',
               lambda env, f: (lambda p: p.rename(relabel(p, (int(p.stem[-1]) + 1) % 3)))(pngs(f)[0]),
               message=[r'{folder}/train/\w+/.*\.png: name says label \d but it is in folder', r'fix the name or move the file']),
    train_case('train-duplicate-timestamp', lambda env, f: shutil.copy(
                   p := next(q for q in pngs(f) if q.parent.name == 'up'), f / 'train' / 'flat' / relabel(p, 1).name),
               message=[r"Dataset 'msft': 2 images share a timestamp, e\.g\. {folder}", r'each window end must appear once']),
    train_case('train-features-rows-missing', features(lambda df: df[~df.bar.between(200, 239)]), multi=True,
               expect=ValueError, message=[r'with no row at their timestamp', r'Fix the features CSV, or set timeseries\.skip_invalid']),
    train_case('train-features-hole-inside-windows', features(lambda df: df[~df.bar.isin([150, 250, 330])]), multi=True,
               expect=ValueError, message=[r'with rows missing inside their window', r'timeseries\.skip_invalid']),
    train_case('train-features-nan', features(lambda df: df.assign(hl_range=df.hl_range.where(df.bar != 200))), multi=True,
               expect=ValueError, message=[r'with NaN in their window', r'timeseries\.impute: median']),
    train_case('train-features-column-missing', features(lambda df: df.rename(columns={'ma5_gap': 'ma5gap'})), multi=True,
               expect=ValueError, message=[r"{tmp}/features\.csv: no column 'ma5_gap'; did you mean 'ma5gap'\?"]),
    train_case('train-features-duplicate-rows', features(lambda df: pd.concat([df, df.iloc[[100]]])), multi=True,
               expect=ValueError, message=[r'{tmp}/features\.csv: 2 rows share a \(timestamp, dataset_id\), CSV lines 102, \d+',
                                          r'each bar must appear once']),
    train_case('train-features-bad-timestamp', features(lambda df: df.assign(timestamp=df.timestamp.where(df.bar != 10, 'soon'))),
               multi=True, expect=ValueError, message=[r'{tmp}/features\.csv: 1 unreadable timestamps, CSV lines 12']),
    train_case('train-features-file-missing', lambda env, f: rm(env.tmp / 'features.csv'), multi=True, expect=FileNotFoundError,
               message=[r'timeseries\.data_path: {tmp}/features\.csv does not exist']),
    train_case('train-features-not-configured', overrides={'model_mode': 'multi', 'timeseries': {'data_path': None, 'feature_columns': []}},
               expect=ValueError,
               message=[r'model_mode: multi needs timeseries\.data_path .* and timeseries\.feature_columns']),
    train_case('train-resume-checkpoint-missing', overrides={'resume_from_checkpoint': 'nope.ckpt'}, expect=FileNotFoundError,
               message=[r"resume_from_checkpoint: 'nope\.ckpt' is neither a file nor a checkpoint", r'fix the path or remove the key']),
    *[train_case(f'train-resume-checkpoint-{name}', last_ckpt_is(make), kept=True, expect=ValueError,
                 message=[rf'{{run}}/checkpoints/single/resnet18/last\.ckpt: not a tsic checkpoint \({kind}\); give a \.ckpt written by tsic training',
                          r'tsic left the run folder {run} as it was'])
      for name, make, kind in (('png', lambda env: png_file(env), 'a PNG image'), ('random-bytes', lambda env: random_file(env), 'unreadable bytes'),
                               ('text', lambda env: text_file(env), 'a text file'), ('zip', lambda env: zip_file(env), 'a zip archive that is not a PyTorch file'),
                               ('empty', lambda env: empty_file(env), 'an empty file'))],
    train_case('train-resume-foreign-checkpoint', foreign_last_ckpt, kept=True, expect=ValueError,
               message=[r"{run}/checkpoints/single/resnet18/last\.ckpt: not a tsic checkpoint \(a PyTorch file without tsic's 'format' key",
                        r'give a \.ckpt written by tsic training']),
    train_case('train-resume-other-architecture', real_last_ckpt, kept=True, expect=ValueError,
               message=[r"last\.ckpt cannot be resumed with this config \(model_architecture_name: checkpoint 'resnet18', config 'resnet34'\)",
                        r'resume with the config it was trained with']),
    train_case('train-run-dir-holds-checkpoints', old_run, kept=True, expect=FileExistsError,
               message=[r'{run}/checkpoints/single/resnet18 already holds checkpoints', r'set resume_from_checkpoint: last\.ckpt']),
    train_case('train-images-deleted', lambda env, f: [p.unlink() for p in pngs(f, 'train')[::3]],
               message=[r'{folder}: the charts found are not those its manifest lists \(train/\w+: \d+ listed, \d+ found',
                        r'run the same tsic build again']),
    train_case('train-class-folder-deleted', lambda env, f: rm(f / 'val' / 'down'),
               message=[r'{folder}: the charts found are not those its manifest lists \(val/down: \d+ listed, 0 found\)']),
    train_case('train-images-added', lambda env, f: shutil.copy(pngs(f)[0], pngs(f)[0].with_name(re.sub(r'_\d{8}_', '_19000102_', pngs(f)[0].name))),
               message=[r'{folder}: the charts found are not those its manifest lists', r'\d+ listed, \d+ found', r'--rebuild']),
    train_case('train-cache-dir-under-a-file', lambda env, f: {'cache_dir': str(a_file(env) / 'cache')},
               expect=ValueError, message=[r'cache_dir: cannot create the folder {tmp}/afile\.csv/cache', r'choose a writable folder']),
    train_case('train-sample-limit-zero', sample_limit=0, expect=ValueError, message=[r'sample_limit must be >= 1, got 0']),
    train_case('train-series-source-bad-bars', series_source, expect=ValueError,
               message=[r'{tmp}/bad\.csv: 1 bars with high below open/close or low above them \(line 12\)', r'--repair|repair=True']),
    train_case('train-run-dir-under-a-file', run_dir=lambda env: a_file(env) / 'run', expect=(OSError, ValueError),
               message=[r'{run}', r'run_dir', r'folder']),
]


def cli_case(id, surface, args, message) -> Case:
    "`tsic ARGS` (`args(env, cfg)`, CFG the good config) refused with status 2 before any work: no run folder, no study."
    def make(env: Env) -> Attempt:
        cfg = write(env.tmp / 'config.yaml', yaml.safe_dump(good_config(env)))
        def clean():
            left = sorted(p.name for p in env.tmp.iterdir() if p.name not in ('config.yaml', 'good.csv'))
            assert not left, f"the refused command left {left}"
        return Attempt(env.cli(*args(env, cfg)), clean=clean, names={'tmp': env.tmp, 'cfg': cfg}, command=args(env, cfg)[0])
    return Case(id, surface, make, 2, tuple(message))


NO_TRACEBACK = r'\A(?![\s\S]*Traceback)'  # a message, not a stack


def interrupted(args, ready: str, rerun=None, timeout: float = 120):
    """`tsic ARGS` in its own process, interrupted with SIGINT (what Ctrl-C sends) once the file pattern `ready`
    (relative to tmp) matches; (exit status, stderr). `args(env)`; `rerun(env)`: the command line that must then finish."""
    def make(env: Env) -> Attempt:
        import signal, time
        line = args(env)
        def call():
            proc = subprocess.Popen([str(BIN / 'tsic'), *map(str, line)], cwd=env.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal, even when
            # pytest runs in a background job, whose children a shell starts with SIGINT ignored
            deadline = time.monotonic() + timeout
            while not list(env.tmp.glob(ready)) and proc.poll() is None and time.monotonic() < deadline: time.sleep(0.05)
            assert proc.poll() is None, f"tsic {line[0]} ended before it could be interrupted:\n{proc.communicate()[1]}"
            proc.send_signal(signal.SIGINT)
            err = proc.communicate(timeout=60)[1]
            return proc.returncode, err
        def again():
            done = subprocess.run([str(BIN / 'tsic'), *map(str, rerun(env))], cwd=env.tmp, capture_output=True, text=True, timeout=300)
            return done.returncode, done.stderr
        return Attempt(call, again if rerun else None, names={'tmp': env.tmp}, command=line[0])
    return make


def build_args(env):
    return ['build', write(env.tmp / 'bars.csv', GOOD), '--data-dir', env.tmp / 'data', '--image-size', 512, '--workers', 1, '--chunk', 1]


def train_args(env):
    folder = env.dataset()
    cfg = {'datasets': ['msft'], 'dataset_msft_dir': str(folder), 'model_architecture_name': 'resnet18', 'pretrained': False,
           'image_size': 32, 'batch_size': 16, 'max_epochs': 200, 'use_progressive_unfreezing': False, 'tensorboard': False,
           'class_names': ['down', 'flat', 'up'], 'num_classes': 3, 'cache_dir': str(env.tmp / 'cache')}
    return ['train', '--config', write(env.tmp / 'config.yaml', yaml.safe_dump(cfg)), '--run-dir', env.tmp / 'run', '--sample-limit', 16]


def build_with_file_size_limit(env: Env) -> Attempt:
    "`tsic build` in its own process whose writes may not pass 20 kB (RLIMIT_FSIZE): a write fails part-way, as on a full disk."
    import resource
    line = [str(BIN / 'tsic'), 'build', str(write(env.tmp / 'bars.csv', GOOD)), '--data-dir', str(env.tmp / 'data'),
            '--image-size', '48', '--workers', '1']  # 48-px charts fit the limit; the features CSV does not
    def limited(): resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    def run(preexec=None):
        proc = subprocess.run(line, cwd=env.tmp, capture_output=True, text=True, timeout=300, preexec_fn=preexec)
        return proc.returncode, proc.stderr
    return Attempt(lambda: run(limited), run, names={'data': env.tmp / 'data'}, command='build')


INTERRUPTED = r'tsic {cmd}: interrupted; '
BUILD.append(Case('build-write-fails-part-way', 'build', build_with_file_size_limit, 2,
                  (r'{data}/bars_1d_features\.csv: File too large', r'raise the limit or write elsewhere',
                   r'run the same command again; finished files are kept and a rerun goes on from them', NO_TRACEBACK)))
BUILD.append(Case('build-interrupted', 'build', interrupted(build_args, 'data/*/train/*/*.png', rerun=build_args), 130,
                  (INTERRUPTED.format(cmd='build'), r'the charts written so far are kept', r'run the same command again', NO_TRACEBACK)))

TRAIN_CLI = [
    cli_case('train-cli-sample-limit-one', 'train', lambda env, cfg: ('train', '--config', cfg, '--sample-limit', 1),
             [r'argument --sample-limit: at least 2', r'batch normalisation']),
    cli_case('train-cli-set-unclosed-list', 'train', lambda env, cfg: ('train', '--config', cfg, '--set', 'class_names=[down, flat'),
             [r"--set 'class_names=\[down, flat': the value is not valid YAML", r"--set 'class_names=\[down, flat, up\]'", NO_TRACEBACK]),
    cli_case('train-cli-set-without-value', 'train', lambda env, cfg: ('train', '--config', cfg, '--set', 'max_epochs'),
             [r"--set 'max_epochs': expected KEY=VALUE"]),
    cli_case('train-cli-config-is-a-folder', 'train', lambda env, cfg: ('train', '--config', env.tmp),
             [r'{tmp} is a folder: give the YAML config file']),
    cli_case('train-cli-sample-limit-not-a-number', 'train', lambda env, cfg: ('train', '--config', cfg, '--sample-limit', '1.5'),
             [r"argument --sample-limit: expected a whole number, got '1\.5'"]),
    Case('train-interrupted', 'train', interrupted(train_args, 'run/checkpoints/*/*/last.ckpt'), 130,
         (INTERRUPTED.format(cmd='train'), r'kept the run folder {tmp}/run \(it holds checkpoints\)',
          r'--run-dir <that folder> --set resume_from_checkpoint=last\.ckpt', NO_TRACEBACK)),
]

# ---------------------------------------------------------------------------------------------------------------------
# training through the notebook (papermill, real processes; the config is checked before torch is imported: ~3 s)

def papermill_case(id, params, message, xfail='', slow=False) -> Case:
    "papermill nbs/train.ipynb with `params` ({tmp}: the case's tmp_path); clean: its run_dir is not left behind."
    def make(env: Env) -> Attempt:
        run = env.tmp / 'run'
        args = [str(BIN / 'papermill'), 'nbs/train.ipynb', str(env.tmp / 'out.ipynb'), '-p', 'run_dir', str(run),
                *(p.format(tmp=env.tmp) for p in params)]
        def call():
            proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
            return proc.returncode, proc.stdout + proc.stderr
        def clean(): assert not run.exists(), f"the failed run left {run}"
        return Attempt(call, clean=clean, names={'tmp': env.tmp})
    return Case(id, 'papermill', make, 1, tuple(message), xfail, slow)


PAPERMILL = [
    papermill_case('papermill-ill-typed-parameter', ['-p', 'batch_size', 'many'],
                   [r"ConfigError: batch_size: expected int, got str 'many'"]),
    papermill_case('papermill-config-missing', ['-p', 'config', 'configs/nowhere.yaml'],
                   [r'Config file not found: .*configs/nowhere\.yaml']),
    papermill_case('papermill-dataset-folder-missing',
                   ['-p', 'config', 'configs/demo.yaml', '-y', 'datasets: [spy]\ndataset_spy_dir: {tmp}/nowhere'],
                   [r"Dataset 'spy': folder {tmp}/nowhere not found", r'set dataset_spy_dir', r'tsic removed the run folder'],
                   slow=True),  # ~11 s: the error comes after torch and fastai are imported
]


# ---------------------------------------------------------------------------------------------------------------------
# walk-forward

def wf_case(id, message, expect=ValueError, overrides=None, folder=None, xfail='', **kwargs) -> Case:
    "walk_forward(cfg, run_dir=WF, **kwargs) on a copy of the chart dataset; clean: WF is not left behind."
    def make(env: Env) -> Attempt:
        from tsic.walkforward import walk_forward
        data = folder(env) if folder else env.dataset()
        cfg = config_for(data, tensorboard=False, **((overrides(env) if callable(overrides) else overrides) or {}))
        run = env.tmp / 'wf'
        def clean(): assert not run.exists(), f"the refused walk-forward left {run}: {sorted(run.rglob('*'))}"
        return Attempt(api(walk_forward, cfg, run_dir=run, **kwargs), clean=clean, names={'tmp': env.tmp})
    return Case(id, 'walk-forward', make, expect, tuple(message), xfail)


def quantile_dataset(env) -> Path:
    from tsic.build import build_chart_dataset
    from tsic.labels import ChartDatasetSpec
    return build_chart_dataset(msft().iloc[:400], env.tmp / 'q', ChartDatasetSpec(image_size=40, label_rule='quantile'), workers=1)


WALK_FORWARD = [
    wf_case('walk-forward-too-many-folds', [r'fold 0: \d+ windows before the test block are too few', r'use fewer folds or more data'],
            folds=40),
    wf_case('walk-forward-purge-too-large', [r'two purge gaps of 500', r'use fewer folds or more data'], folds=2, purge=500),
    wf_case('walk-forward-unknown-mode', [r"mode must be 'expanding' or 'sliding', got 'rolling'"], mode='rolling'),
    wf_case('walk-forward-zero-folds', [r'folds must be >= 1, got 0'], folds=0),
    wf_case('walk-forward-negative-purge', [r'purge', r'>= 0|must not be negative|at least'], folds=1, purge=-50, sample_limit=8),
    wf_case('walk-forward-quantile-labels', [r"datasets \['msft'\] use label_rule: quantile", r'use label_rule zscore or threshold'],
            folder=quantile_dataset),
    wf_case('walk-forward-dataset-folder-missing', [r"Dataset 'spy': folder {tmp}/nowhere not found", r'set dataset_spy_dir'],
            overrides=lambda env: {'datasets': ['spy'], 'dataset_spy_dir': str(env.tmp / 'nowhere')}),
]


# ---------------------------------------------------------------------------------------------------------------------
# feature analysis

def analysis_case(id, message, text=GOOD, expect=ValueError, labels=None, dataset=None, overrides=None, data_path=True,
                  out=None, xfail='', **kwargs) -> Case:
    "analysis_bars(cfg, SRC) then analyse_features(bars, spec, OUT, labels, **kwargs); clean: no file under OUT."
    def make(env: Env) -> Attempt:
        from tsic.config import load_config
        from tsic.analysis import analysis_bars, analyse_features
        src = env.tmp / 'bars.csv'
        if text is not None: write(src, text(env) if callable(text) else text)
        lab = labels(env) if labels else None
        cfg = load_config(**(overrides or {}))
        dest = out(env) if out else env.tmp / 'fa'
        def call():
            bars, spec = analysis_bars(cfg, src if data_path else None, dataset)
            analyse_features(bars, spec, dest, lab, **kwargs)
        def clean():
            files = [p for p in dest.rglob('*') if p.is_file()] if dest.is_dir() else []
            assert not files, f"the refused analysis left {files}"
        return Attempt(api(call), clean=clean, names={'src': src, 'labels': lab or '', 'out': dest})
    return Case(id, 'analysis', make, expect, tuple(message), xfail)


def labels_csv(edit):
    "A labels CSV as tsic build writes it for the good bars, changed by `edit(df) -> df`."
    def make(env) -> Path:
        from tsic.labels import ChartDatasetSpec, labelled_windows
        w, _ = labelled_windows(msft().iloc[:400], ChartDatasetSpec(dataset='bars', image_size=40))
        path = env.tmp / 'fix_labeled_data_bars_1d.csv'
        edit(w.drop(columns='end')).to_csv(path, index=False)
        return path
    return make


ANALYSIS = [
    analysis_case('analysis-wrong-separator', [r'{src}: csv\.sep', r"--sep ';'"], text=bars_text(sep=';')),
    analysis_case('analysis-data-file-missing', [r'OHLCV file not found: {src}'], text=None, expect=FileNotFoundError),
    analysis_case('analysis-high-below-low', [r'{src}: 1 bars with high below', r'line 12', r'--repair|repair=True'],
                  text=set_fields(GOOD, 12, high=float(msft().low.iloc[10]) - 1)),
    analysis_case('analysis-too-few-bars', [r'\bbars: 30 bars give 0 labelled windows', r'use more bars or a shorter window'],
                  text=bars_text(30)),
    analysis_case('analysis-no-holdout-period', [r'\btest\b', r'{src}|\bbars\b', r'more bars'], text=bars_text(300)),
    analysis_case('analysis-too-many-folds', [r'fold 0: \d+ windows before the test block are too few', r'use fewer folds or more data'],
                  folds=30),
    analysis_case('analysis-unknown-mode', [r"mode must be 'expanding' or 'sliding', got 'rolling'"], mode='rolling'),
    analysis_case('analysis-dataset-without-source', [r"dataset 'spy' has no OHLCV file: add build\.sources"],
                  data_path=False, overrides={'datasets': ['spy']}),
    analysis_case('analysis-labels-missing-column', [r"{labels}: no column\(s\) \['split'\]", r'expected a labels CSV written by tsic build'],
                  labels=labels_csv(lambda df: df.drop(columns='split'))),
    analysis_case('analysis-labels-bad-timestamp', [r'{labels}: unreadable timestamps, CSV lines \[12\]'],
                  labels=labels_csv(lambda df: df.assign(timestamp=df.timestamp.astype(str).where(df.index != 10, 'soon')))),
    analysis_case('analysis-labels-of-other-bars', [r'{labels}', r'the labels do not fit these bars'],
                  labels=labels_csv(lambda df: df.assign(timestamp=df.timestamp + pd.Timedelta(days=3650)))),
    analysis_case('analysis-out-dir-under-a-file', [r'{out}', r'out_dir', r'folder'], out=lambda env: a_file(env) / 'fa',
                  expect=(OSError, ValueError)),
]


# ---------------------------------------------------------------------------------------------------------------------
# tsic predict and tsic export

RECENT = bars_text(100, 300)  # bars the checkpoint never saw


def predict_case(id, message, ckpt=None, source=None, flags=(), fix_flags=None, out=None, xfail='', rerun=None) -> Case:
    """`tsic predict CKPT SRC -o OUT [--last 3] FLAGS` (--last for bars only); `ckpt`, `source` and `out` are functions of env (default: the
    trained checkpoint, 100 recent bars, tmp/p.csv). Clean: OUT not written (or, where OUT is an input, unchanged).
    Rerun (~0.5 s, so by default only where the fix is a flag, `fix_flags`, which then reads the same SRC): the good
    checkpoint and output path."""
    def make(env: Env) -> Attempt:
        ck = ckpt(env) if ckpt else env.checkpoint
        src = source(env) if source else write(env.tmp / 'recent.csv', RECENT)
        dest = out(env) if out else env.tmp / 'p.csv'
        given = flags(env) if callable(flags) else flags
        before = dest.read_bytes() if dest.is_file() else None  # an input named as the output
        def clean():
            if before is not None: assert dest.read_bytes() == before, f"{dest}, an input, was overwritten"
            elif dest.is_file(): raise AssertionError(f"{dest} was written by a refused prediction")
        def again():
            good = write(env.tmp / 'recent.csv', RECENT) if fix_flags is None else src
            target = env.tmp / 'p.csv'
            status, message = env.cli('predict', env.checkpoint, good, '-o', target, '--last', 3,
                                      *(given if fix_flags is None else fix_flags))()
            assert status != 0 or len(pd.read_csv(target)) == 3
            return status, message
        wanted = fix_flags is not None if rerun is None else rerun
        last = ('--last', 3) if Path(src).suffix.lower() in ('.csv', '.txt') else ()  # charts have no "last windows"
        return Attempt(env.cli('predict', ck, src, '-o', dest, *last, *given), again if wanted else None, clean,
                       names={'ck': ck, 'src': src, 'out': dest}, command='predict')
    return Case(id, 'predict', make, 2, tuple(message), xfail)


def export_case(id, message, ckpt=None, out=None, flags=(), xfail='', rerun=False) -> Case:
    "`tsic export CKPT OUT FLAGS`; clean: OUT not written; rerun (a TorchScript export, ~1 s): the good checkpoint."
    def make(env: Env) -> Attempt:
        ck = ckpt(env) if ckpt else env.checkpoint
        dest = out(env) if out else env.tmp / 'model.pt'
        before = dest.read_bytes() if dest.is_file() else None  # an input named as the output
        def clean():
            if before is not None: assert dest.read_bytes() == before, f"{dest}, an input, was overwritten"
            elif dest.is_file(): raise AssertionError(f"{dest} was written by a refused export")
        def again():
            target = env.tmp / 'good' / 'model.pt'
            status, message = env.cli('export', env.checkpoint, target)()
            assert status != 0 or target.stat().st_size > 1000
            return status, message
        return Attempt(env.cli('export', ck, dest, *flags), again if rerun else None, clean,
                       names={'ck': ck, 'out': dest}, command='export')
    return Case(id, 'export', make, 2, tuple(message), xfail)


CKPT_FIX = r'give a \.ckpt written by tsic training'


def png_file(env) -> Path: return write(env.tmp / 'chart.png', png_bytes())
def random_file(env) -> Path: return write(env.tmp / 'random.ckpt', np.random.default_rng(0).bytes(4096))
def empty_file(env) -> Path: return write(env.tmp / 'empty.ckpt', b'')
def text_file(env) -> Path: return write(env.tmp / 'notes.ckpt', 'best epoch 3\n')
def missing_file(env) -> Path: return env.tmp / 'missing.ckpt'


def zip_file(env) -> Path:
    import zipfile
    with zipfile.ZipFile(env.tmp / 'other.zip', 'w') as z: z.writestr('readme.txt', 'not a model')
    return env.tmp / 'other.zip'


def plain_torch(env) -> Path:
    torch.save({'x': 1}, env.tmp / 'plain.pt'); return env.tmp / 'plain.pt'


def edited_ckpt(**changes):
    "The trained checkpoint re-saved with config keys changed (weights of one model under another's name)."
    def make(env) -> Path:
        from tsic.checkpoint import load_checkpoint
        ck = load_checkpoint(env.checkpoint).payload()
        for k, v in changes.items():
            if k == 'format': ck['format'] = v
            else: ck['config'][k] = v
        torch.save(ck, env.tmp / 'edited.ckpt'); return env.tmp / 'edited.ckpt'
    return make


def chart_folder(*extra):
    "A folder with two real charts of the dataset and `extra` (name, bytes/str) files."
    def make(env) -> Path:
        folder = env.tmp / 'charts_in'
        folder.mkdir(parents=True, exist_ok=True)
        for p in pngs(env.small_dataset, 'test')[:2]: shutil.copy(p, folder)
        for name, content in extra: write(folder / name, content)
        return folder
    return make


def empty_folder(env) -> Path:
    (env.tmp / 'nothing').mkdir(); return env.tmp / 'nothing'


def a_dir(env) -> Path:
    (env.tmp / 'outdir').mkdir(exist_ok=True); return env.tmp / 'outdir'


def own_checkpoint(env) -> Path:
    "A copy of the trained checkpoint of this case's own (a case that would overwrite it must not touch the shared one)."
    if not (env.tmp / 'model.ckpt').exists(): shutil.copy(env.checkpoint, env.tmp / 'model.ckpt')
    return env.tmp / 'model.ckpt'


def link_to(target):
    "A symbolic link tmp/link-<name> to the path `target(env)` names (the output a link leads to an input)."
    def make(env) -> Path:
        path = target(env); link = env.tmp / f'link-{path.name}'
        if not link.is_symlink(): link.symlink_to(path)
        return link
    return make


def charts_built(**options):
    "A chart dataset tsic builds under tmp/other from 400 MSFT bars (from bar `start`), drawn with `options` (the checkpoint's: 48 px, window 40)."
    def make(env) -> Path:
        from tsic.build import build_chart_dataset
        from tsic.labels import ChartDatasetSpec
        start = options.pop('start', 0)
        return build_chart_dataset(msft().iloc[start:start + 400], env.tmp / 'other', ChartDatasetSpec(**{'image_size': 48, **options}), workers=1)
    return make


def evaluate_case(id, data, message, expect=None, ckpt=None, **kwargs) -> Case:
    "evaluate(CKPT, data(env), out_dir=tmp/report, **kwargs) on `ckpt(env)` (default: a copy of the trained checkpoint); clean: CKPT unchanged, no report."
    def make(env: Env) -> Attempt:
        from tsic.evaluate import evaluate
        ck = (ckpt or own_checkpoint)(env); before = ck.read_bytes()
        folder, report = data(env), env.tmp / 'report'
        def clean():
            assert ck.read_bytes() == before, f"{ck} was changed by a refused evaluation"
            assert not report.exists() or not any(report.iterdir()), f"the refused evaluation wrote {sorted(report.iterdir())}"
        return Attempt(api(evaluate, ck, folder, out_dir=report, n_top_losses=0, n_gradcam=0, **kwargs), clean=clean,
                       names={'ck': ck, 'data': folder})
    from tsic.predict import PredictError
    return Case(id, 'evaluate', make, expect or PredictError, tuple(message))


GEOMETRY_FIX = r'build them again with the model.s options'
NOT_A_CHECKPOINT = (('png', 'png_file', 'a PNG image'), ('random-bytes', 'random_file', 'unreadable bytes'), ('text', 'text_file', 'a text file'),
                    ('zip', 'zip_file', 'a zip archive that is not a PyTorch file'), ('empty', 'empty_file', 'an empty file'),
                    ('plain-torch', 'plain_torch', "a PyTorch file without tsic's 'format' key \\(keys: x\\)"))

EVALUATE = [
    evaluate_case('evaluate-other-image-size', charts_built(image_size=64),
                  [r'{data} \(dataset .msft.\) holds charts drawn with image_size 64 \(the model.s: 48\)', GEOMETRY_FIX]),
    evaluate_case('evaluate-other-window', charts_built(window=20), [r'holds charts drawn with window 20 \(the model.s: 40\)', GEOMETRY_FIX]),
    evaluate_case('evaluate-other-chart-kind', charts_built(chart='line'), [r"holds charts drawn with chart 'line' \(the model.s: 'candle'\)"]),
    evaluate_case('evaluate-other-scaling', charts_built(scaling='volatility'), [r"scaling 'volatility' \(the model.s: 'window'\)"]),
    evaluate_case('evaluate-store-offsets-of-other-data', charts_built(start=300), store_thresholds=True,
                  message=[r'store_thresholds: the checkpoint {ck} keeps decision offsets fitted on its own data only', r'not on {data}',
                           r'metrics\.json']),
    *[evaluate_case(f'evaluate-checkpoint-{name}', lambda env: None, ckpt=lambda env, f=maker: globals()[f](env), expect=ValueError,
                    message=[rf'^{{ck}}: not a tsic checkpoint \({kind}\); give a \.ckpt written by tsic training'])
      for name, maker, kind in NOT_A_CHECKPOINT],
    evaluate_case('evaluate-store-offsets-not-fitted', lambda env: None, store_thresholds=True, fit_thresholds=False,
                  message=[r'store_thresholds: the checkpoint {ck} keeps decision offsets fitted on its own data only \(data=None, fit_thresholds=True\)']),
]


RECENT_CSV = lambda env: env.tmp / 'recent.csv'
SAME = r'is also an input of this command'


PREDICT = [
    predict_case('predict-checkpoint-png', [r'{ck}: not a tsic checkpoint \(a PNG image\)', CKPT_FIX], ckpt=png_file, rerun=True),
    predict_case('predict-checkpoint-random-bytes', [r'{ck}: not a tsic checkpoint \(unreadable bytes\)', CKPT_FIX], ckpt=random_file),
    predict_case('predict-checkpoint-plain-torch', [r"{ck}: not a tsic checkpoint \(a PyTorch file without tsic's 'format' key \(keys: x\)\)",
                                                    CKPT_FIX], ckpt=plain_torch),
    predict_case('predict-checkpoint-text', [r'{ck}: not a tsic checkpoint \(a text file\)', CKPT_FIX], ckpt=text_file),
    predict_case('predict-checkpoint-zip', [r'{ck}: not a tsic checkpoint \(a zip archive that is not a PyTorch file\)', CKPT_FIX], ckpt=zip_file),
    predict_case('predict-checkpoint-empty', [r'{ck}: not a tsic checkpoint \(an empty file\)', CKPT_FIX], ckpt=empty_file),
    predict_case('predict-checkpoint-missing', [r'Checkpoint not found: {ck}'], ckpt=missing_file),
    predict_case('predict-checkpoint-other-version', [r"{ck}: not a tsic checkpoint \(format 'tsic-0'; this version of tsic reads",
                                                      CKPT_FIX], ckpt=edited_ckpt(format='tsic-0')),
    predict_case('predict-checkpoint-weights-misfit', [r'{ck}: its weights do not fit a single-mode resnet34'],
                 ckpt=edited_ckpt(model_architecture_name='resnet34')),
    predict_case('predict-source-missing', [r'{src}: no such file or folder'], source=lambda env: env.tmp / 'latest.csv'),
    predict_case('predict-source-unknown-kind', [r'{src}: give a folder of charts, an image file, OHLCV bars \(a CSV file'],
                 source=lambda env: write(env.tmp / 'bars.json', '{}')),
    predict_case('predict-too-few-bars', [r'{src}: 10 bars; the first window needs 60'],
                 source=lambda env: write(env.tmp / 'recent.csv', bars_text(10, 300))),
    predict_case('predict-thresholds-without-offsets', [r'{ck} has no decision offsets', r'fit them on the validation split first',
                                                        r'or predict without thresholds'], flags=('--thresholds',), fix_flags=()),
    predict_case('predict-wrong-separator', [r"{src}: csv\.sep ','", r"--sep ';'"], fix_flags=('--sep', ';'),
                 source=lambda env: write(env.tmp / 'semi.csv', bars_text(100, 300, sep=';'))),
    predict_case('predict-wrong-time-format', [r'{src}: 100 timestamps cannot be read', r'--time-format'],
                 flags=('--time-format', '%d.%m.%Y'), fix_flags=()),
    predict_case('predict-missing-column', [r"{src}: no column \['volume'\]", r'csv\.names \(--names\)'],
                 source=lambda env: write(env.tmp / 'novol.csv', msft().iloc[300:400].drop(columns='volume').to_csv())),
    predict_case('predict-high-below-low', [r'{src}: 1 bars with high below open/close', r'line 12', r'--repair'], fix_flags=('--repair',),
                 source=lambda env: write(env.tmp / 'recent.csv', set_fields(RECENT, 12, high=float(msft().low.iloc[310]) - 1))),
    predict_case('predict-wrong-timeframe', [r"{src}: bars (are )?1h apart", r"trained on 1d bars of msft"],
                 source=lambda env: write(env.tmp / 'hourly.csv', hourly())),
    predict_case('predict-unknown-dataset', [r"{ck}: no dataset 'spy'; it knows \['msft'\]"], flags=('--dataset', 'spy'), fix_flags=()),
    predict_case('predict-folder-with-other-files', [r'{src}: 1 files are not images', r'move them out'],
                 source=chart_folder(('notes.txt', 'x'))),
    predict_case('predict-folder-empty', [r'{src}: no images found', r'\b(give|point|put)\b'], source=empty_folder),
    predict_case('predict-folder-with-last', [r'{src}: last apply to OHLCV bars, not to chart images; leave them out'],
                 source=chart_folder(), flags=('--last', 5)),  # once ignored without a word
    predict_case('predict-folder-with-repair', [r'{src}: repair apply to OHLCV bars'], source=chart_folder(), flags=('--repair',)),
    predict_case('predict-folder-corrupt-png', [r'{src}/.*_label_\d\.png: cannot read image', r'delete or re-render it'],
                 source=chart_folder(('msft_1d_20990101_0000_label_1.png', png_bytes()[:40]))),
    predict_case('predict-batch-size-zero', [r'--batch-size', r'>= 1|at least 1|positive'], flags=('--batch-size', 0), fix_flags=()),
    predict_case('predict-folder-other-image-size', [r'holds charts drawn with image_size 64 \(the model.s: 48\)', GEOMETRY_FIX],
                 source=lambda env: charts_built(image_size=64)(env) / 'test'),
    predict_case('predict-chart-other-window', [r'holds charts drawn with window 20 \(the model.s: 40\)'],
                 source=lambda env: next((charts_built(window=20)(env) / 'test').rglob('*.png'))),
    predict_case('predict-negative-last', [r'--last', r'>= 1|at least 1|positive'], flags=('--last', -5), fix_flags=()),
    predict_case('predict-out-under-a-file', [r'afile\.csv', r'folder'], out=lambda env: a_file(env) / 'p.csv', rerun=True),
    predict_case('predict-out-is-a-folder', [r'{out}\b', r'folder|directory'], out=a_dir, rerun=True),
    predict_case('predict-out-is-the-source', [r'{out}', SAME, r'another output path'], out=RECENT_CSV, rerun=True),
    predict_case('predict-out-links-to-the-source', [r'{out}', SAME], out=link_to(RECENT_CSV), rerun=True),
    predict_case('predict-out-is-the-checkpoint', [r'{out}', SAME], ckpt=own_checkpoint, out=own_checkpoint, rerun=True),
]
if not torch.cuda.is_available():
    PREDICT.append(predict_case('predict-device-unavailable', [r"--device", r"'cuda'", r"cpu"], flags=('--device', 'cuda'),
                                fix_flags=()))

EXPORT = [
    export_case('export-checkpoint-png', [r'{ck}: not a tsic checkpoint \(a PNG image\)', CKPT_FIX], ckpt=png_file, rerun=True),
    export_case('export-checkpoint-random-bytes', [r'{ck}: not a tsic checkpoint \(unreadable bytes\)', CKPT_FIX], ckpt=random_file),
    export_case('export-checkpoint-plain-torch', [r"{ck}: not a tsic checkpoint \(a PyTorch file without tsic's 'format' key",
                                                  CKPT_FIX], ckpt=plain_torch),
    export_case('export-checkpoint-text', [r'{ck}: not a tsic checkpoint \(a text file\)', CKPT_FIX], ckpt=text_file),
    export_case('export-checkpoint-zip', [r'{ck}: not a tsic checkpoint \(a zip archive that is not a PyTorch file\)', CKPT_FIX], ckpt=zip_file),
    export_case('export-checkpoint-empty', [r'{ck}: not a tsic checkpoint \(an empty file\)', CKPT_FIX], ckpt=empty_file),
    export_case('export-checkpoint-missing', [r'Checkpoint not found: {ck}'], ckpt=missing_file),
    export_case('export-checkpoint-is-a-folder', [r'{ck}', r'folder|directory'], ckpt=a_dir),
    export_case('export-checkpoint-weights-misfit', [r'{ck}: its weights do not fit a single-mode resnet34'],
                ckpt=edited_ckpt(model_architecture_name='resnet34')),
    export_case('export-unknown-format', [r"--format: invalid choice: 'keras'", r"choose from 'torchscript', 'onnx'|choose from torchscript, onnx"],
                flags=('--format', 'keras')),
    export_case('export-out-under-a-file', [r'afile\.csv', r'folder'], out=lambda env: a_file(env) / 'model.pt'),
    export_case('export-out-is-a-folder', [r'{out}\b', r'folder|directory'], out=a_dir),
    export_case('export-out-is-the-checkpoint', [r'{out}', SAME, r'another output path'], ckpt=own_checkpoint, out=own_checkpoint, rerun=True),
    export_case('export-out-links-to-the-checkpoint', [r'{out}', SAME], ckpt=own_checkpoint, out=link_to(own_checkpoint)),
]


# ---------------------------------------------------------------------------------------------------------------------
# tsic tune

def tune_case(id, storage, message) -> Case:
    "`tsic tune --config CFG --storage STORAGE --n-trials 1` on the good config; refused before any trial (no rerun: a trial trains)."
    def make(env: Env) -> Attempt:
        path = write(env.tmp / 'config.yaml', yaml.safe_dump(good_config(env)))
        store = storage(env)
        return Attempt(env.cli('tune', '--config', path, '--storage', store, '--n-trials', 1), names={'storage': store}, command='tune')
    return Case(id, 'tune', make, 2, tuple(message))


def shell_predict(env: Env) -> Attempt:
    "`tsic predict` of a plain torch.save file in its own process, as a shell sees it: one line, no traceback, no unsafe advice."
    ck, src = plain_torch(env), write(env.tmp / 'recent.csv', RECENT)
    def call():
        proc = subprocess.run([str(BIN / 'tsic'), 'predict', str(ck), str(src)], capture_output=True, text=True, timeout=300)
        return proc.returncode, proc.stderr
    return Attempt(call, names={'ck': ck}, command='predict')


PREDICT.append(Case('predict-checkpoint-plain-torch-in-a-shell', 'predict', shell_predict, 2,
                    (r"\Atsic predict: error: {ck}: not a tsic checkpoint \(a PyTorch file without tsic's 'format' key \(keys: x\)\); "
                     r'give a \.ckpt written by tsic training[^\n]*\n\Z', r'\A(?![\s\S]*weights_only)', NO_TRACEBACK)))

TUNE = [
    cli_case('tune-timeout-negative', 'tune', lambda env, cfg: ('tune', '--config', cfg, '--timeout', -5), [r'argument --timeout: must be above 0, got -5']),
    cli_case('tune-n-trials-zero', 'tune', lambda env, cfg: ('tune', '--config', cfg, '--n-trials', 0), [r'argument --n-trials: at least 1, got 0']),
    cli_case('tune-sample-limit-one', 'tune', lambda env, cfg: ('tune', '--config', cfg, '--sample-limit', 1), [r'argument --sample-limit: at least 2']),
    cli_case('tune-config-duplicate-key', 'tune', lambda env, cfg: ('tune', '--config', write(cfg, cfg.read_text() + 'image_size: 48\n')),
             [r"{cfg}: not valid YAML at line \d+", r"key 'image_size' given twice"]),
    tune_case('tune-storage-is-a-folder', a_dir, [r'storage {storage}: a folder', r'give a file in it', r'study\.db']),
    tune_case('tune-storage-unsupported-url', lambda env: 'mysql://user@db/tsic', [r"'mysql' is not supported", r'PostgreSQL']),
]


# ---------------------------------------------------------------------------------------------------------------------
# The sweep

CASES = BUILD + CONFIG + TRAIN + TRAIN_CLI + PAPERMILL + WALK_FORWARD + ANALYSIS + EVALUATE + PREDICT + EXPORT + TUNE


def _param(case: Case):
    marks = ([pytest.mark.slow] if case.slow else []) + ([pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else [])
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize('case', [_param(c) for c in CASES])
def test_bad_input(case: Case, request, tmp_path, capsys):
    env = Env(request, tmp_path, capsys)
    attempt = case.make(env)
    status, message = attempt.call()
    if isinstance(case.expect, int):
        assert status == case.expect, f"exit status {status!r}, expected {case.expect}; output:\n{message}"
    else:
        assert isinstance(status, type) and issubclass(status, case.expect), \
            f"got {getattr(status, '__name__', status)}, expected {case.expect}: {message}"
    for pattern in case.message:
        assert re.search(fill(pattern, attempt.names), message, re.S), f"{pattern!r} not in the message:\n{message}"
    if attempt.command:  # the fix it names is one this command has
        unknown = set(re.findall(r'(?<![\w-])--[a-z][a-z-]*', message)) - cli_options(attempt.command)
        assert not unknown, f"the message suggests {sorted(unknown)}, which tsic {attempt.command} does not accept:\n{message}"
    nothing_half_written(tmp_path, attempt.foreign)
    if attempt.clean: attempt.clean()
    if attempt.rerun:
        status, message = attempt.rerun()
        assert status in (0, None), f"after the fix, the rerun failed with {status!r}:\n{message}"
        nothing_half_written(tmp_path)


def test_sweep_covers_every_surface():
    counts = Counter(c.surface for c in CASES)
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"
    assert set(counts) == set(SURFACES), counts
    assert sum(counts.values()) >= 60, counts
    assert all(c.surface == 'papermill' or not c.slow for c in CASES)
