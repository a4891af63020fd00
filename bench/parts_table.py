"""The parts of late fusion, set by set: what `bench/ucr.py --parts DIR` kept of each seed, as one table.

    python bench/parts_table.py bench/results/parts/transformer [--out bench/results/ucr_parts_transformer]
    python bench/parts_table.py --quick       # a check that it runs: bench/ucr.py --quick --parts into a temporary folder, then the table

Each DIR/<set>_seed<k>.npz holds the test labels and the test probabilities of the network alone and of its
MiniRocket ridge head (`model.late_fusion: minirocket`), with sktime's MiniRocket accuracy of the same run. The
fused accuracy is recomputed here as tsic computes it (the two probabilities averaged, the head's share as
`ChartModel.fusion_weight` gives it: chosen on held-out validation series when the run carved some, else its
leave-one-out accuracy on the training series; files written before the share was kept hold the latter), so another fusion rule is scored
without training again; beside it, the two averaged with equal shares (the rule before).
"""
import argparse, re, sys, tempfile
from pathlib import Path
import numpy as np, pandas as pd


def seed_row(path: Path) -> dict:
    "Accuracies of one seed's parts file: the network alone, its MiniRocket head, the two fused, sktime's MiniRocket."
    name, seed = re.fullmatch(r'(.+)_seed(\d+)\.npz', path.name).groups()
    with np.load(path) as f:
        labels, network, head = f['labels'], f['network'], f['minirocket']
        share = float(f['share'] if 'share' in f else f['loo_accuracy'])  # tsic.models.ChartModel.fusion_weight
        t = float(f['network_temperature']) if 'network_temperature' in f else 1.0  # calibrated on held-out series, if any
        calibrated = network if t == 1 else np.exp(t * np.log(network + 1e-12)) / np.exp(t * np.log(network + 1e-12)).sum(1, keepdims=True)
        fused = (1 - share) * calibrated + share * head
        def acc(p): return float((p.argmax(1) == labels).mean())
        return {'dataset': name, 'seed': int(seed), 'network': acc(network), 'minirocket_head': acc(head), 'fused': acc(fused),
                'equal_shares': acc((network + head) / 2), 'sktime_minirocket': float(f['sktime_minirocket']), 'seconds': float(f['seconds'])}


def parts_table(folder) -> pd.DataFrame:
    "One row per set: the mean over its seeds of `seed_row`'s accuracies and seconds, the seeds counted."
    rows = pd.DataFrame([seed_row(p) for p in sorted(Path(folder).glob('*_seed*.npz'))])
    if rows.empty: raise SystemExit(f"{folder}: no <set>_seed<k>.npz files (bench/ucr.py --parts writes them)")
    table = rows.groupby('dataset', sort=False).agg(seeds=('seed', 'size'), network=('network', 'mean'),
                                                    minirocket_head=('minirocket_head', 'mean'), fused=('fused', 'mean'),
                                                    equal_shares=('equal_shares', 'mean'),
                                                    sktime_minirocket=('sktime_minirocket', 'mean'), seconds=('seconds', 'mean'))
    return table.reset_index()


def markdown(table: pd.DataFrame) -> str:
    lines = ['| set | seeds | network alone | its MiniRocket head | fused (tsic) | equal shares | sktime MiniRocket | fused − MiniRocket | s per seed |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in table.itertuples():
        lines.append(f"| {r.dataset} | {r.seeds} | {r.network:.3f} | {r.minirocket_head:.3f} | **{r.fused:.3f}** | {r.equal_shares:.3f} | {r.sktime_minirocket:.3f} | "
                     f"{r.fused - r.sktime_minirocket:+.3f} | {r.seconds:.0f} |")
    m = table[['network', 'minirocket_head', 'fused', 'equal_shares', 'sktime_minirocket']].mean()
    lines.append(f"| mean | | {m.network:.3f} | {m.minirocket_head:.3f} | **{m.fused:.3f}** | {m.equal_shares:.3f} | {m.sktime_minirocket:.3f} | "
                 f"{m.fused - m.sktime_minirocket:+.3f} | |")
    return '\n'.join(lines) + '\n'


def main(argv=None) -> pd.DataFrame:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('folder', nargs='?', help="a folder of bench/ucr.py --parts files")
    p.add_argument('--out', help='write OUT.md and OUT.csv')
    p.add_argument('--quick', action='store_true', help="a check that it runs: the parts of bench/ucr.py --quick (Trace, one seed), made now")
    a = p.parse_args(argv)
    if a.folder: table = parts_table(a.folder)
    elif a.quick:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import ucr
        with tempfile.TemporaryDirectory(prefix='parts-') as folder:
            ucr.main(['--quick', '--parts', folder])
            table = parts_table(folder)
    else: p.error('name a folder of bench/ucr.py --parts files (or --quick)')
    text = markdown(table)
    print(text)
    if a.out:
        table.to_csv(a.out + '.csv', index=False); Path(a.out + '.md').write_text(text)
    return table


if __name__ == '__main__':
    main()
