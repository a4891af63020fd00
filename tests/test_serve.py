"""`tsic serve` over real HTTP on localhost: the answers equal `Predictor`'s, bad payloads get the CLI's messages as
4xx, concurrent requests share forward passes, and SIGTERM lets a request in flight finish."""
import io, json, signal, socket, subprocess, threading, time, urllib.error, urllib.request
from pathlib import Path
import numpy as np, pandas as pd, pytest
from conftest import BIN


def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def call(url: str, body: bytes | None = None, media: str = 'application/json', timeout: float = 120) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={'content-type': media} if body is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r: return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e: return e.code, json.loads(e.read())


def wait_for(ready, proc: subprocess.Popen, seconds: float = 300):
    "Poll `ready()` until it is true; fail with the server's output if the server ends or `seconds` pass."
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            if ready(): return
        except OSError: pass
        time.sleep(0.1)
    proc.kill(); raise AssertionError(f"the server was not ready in {seconds} s: " + proc.stdout.read())


@pytest.fixture(scope='module')
def server(checkpoint):
    port = free_port()
    proc = subprocess.Popen([str(BIN / 'tsic'), 'serve', str(checkpoint), '--port', str(port), '--max-batch', '32'],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f'http://127.0.0.1:{port}'
    wait_for(lambda: call(url + '/health', timeout=5)[0] == 200, proc)
    yield url, proc
    if proc.poll() is None: proc.terminate(); proc.wait(30)


def bars_json(bars: pd.DataFrame) -> bytes:
    return json.dumps({'bars': [{'timestamp': t.isoformat(), **row} for t, row in zip(bars.index, bars.to_dict('records'))]}).encode()


def test_answers_equal_the_predictor_for_json_csv_and_png(server, checkpoint, small_dataset):
    from tsic.bars import load_msft
    from tsic.predict import Predictor
    url, _ = server
    p, bars = Predictor.from_checkpoint(checkpoint), load_msft().iloc[500:700]
    want = p.predict_bars(bars, last=5)
    status, got = call(url + '/predict?last=5', bars_json(bars))
    assert status == 200, got
    rows = got['predictions']
    assert [r['end'] for r in rows] == [t.isoformat() for t in want.timestamp] and [r['class'] for r in rows] == want.predicted.tolist()
    np.testing.assert_allclose([list(r['probabilities'].values()) for r in rows], want.filter(like='prob_').to_numpy(), atol=1e-5)
    status, csv = call(url + '/predict?last=5', bars.to_csv(index_label='timestamp').encode(), 'text/csv')
    assert status == 200 and csv['predictions'] == rows
    png = sorted((small_dataset / 'test').rglob('*.png'))[0]
    status, one = call(url + '/predict', png.read_bytes(), 'image/png')
    assert status == 200 and len(one['predictions']) == 1, one
    np.testing.assert_allclose(list(one['predictions'][0]['probabilities'].values()),
                               p.predict_images(png).filter(like='prob_').to_numpy()[0], atol=1e-5)
    status, card = call(url + '/model')
    assert status == 200 and card['classes'] == p.class_names and card['datasets']['msft']['window'] == 40 and card['runtime'] == 'torch'


def test_bad_payloads_get_4xx_with_the_cli_message(server, checkpoint, tmp_path):
    from tsic.bars import load_msft
    url, _ = server
    short = load_msft().iloc[:30]
    short.to_csv(tmp_path / 'short.csv', index_label='timestamp')
    cli = subprocess.run([str(BIN / 'tsic'), 'predict', str(checkpoint), str(tmp_path / 'short.csv')], capture_output=True, text=True)
    message = cli.stderr.strip().split('error: ', 1)[1].split(': ', 1)[1]  # "30 bars; the first window needs 60 (...)"
    status, got = call(url + '/predict', bars_json(short))
    assert status == 422 and got['detail'].endswith(message), (got, message)
    assert call(url + '/predict', b'{"bars": [', 'application/json')[0] == 400
    status, got = call(url + '/predict', b'{"rows": []}')
    assert status == 422 and 'a JSON body is {"bars"' in got['detail']
    status, got = call(url + '/predict', b'a,b', 'text/plain')
    assert status == 415 and 'application/json, text/csv, image/png' in got['detail']
    status, got = call(url + '/predict', b'not a png', 'image/png')
    assert status == 422 and 'the request' in got['detail'], got
    status, got = call(url + '/predict?thresholds=true', bars_json(load_msft().iloc[:100]))
    assert status == 422 and 'has no decision offsets' in got['detail']
    status, got = call(url + '/predict?last=0', bars_json(load_msft().iloc[:100]))
    assert status == 422 and 'last' in got['detail']


def test_concurrent_requests_share_forward_passes(server):
    from tsic.bars import load_msft
    url, _ = server
    before = call(url + '/health')[1]
    body, results = bars_json(load_msft().iloc[-61:]), []
    threads = [threading.Thread(target=lambda: results.append(call(url + '/predict?last=1', body))) for _ in range(16)]
    for t in threads: t.start()
    for t in threads: t.join()
    assert [s for s, _ in results] == [200] * 16
    probs = np.array([list(r['predictions'][0]['probabilities'].values()) for _, r in results])
    np.testing.assert_allclose(probs, np.repeat(probs[:1], 16, 0), atol=1e-5)  # the same window, the same answer in any batch
    after = call(url + '/health')[1]
    assert after['requests'] - before['requests'] == 16 and after['forward_passes'] - before['forward_passes'] < 16, (before, after)


def test_sigterm_lets_the_request_in_flight_finish(checkpoint):
    from tsic.bars import load_msft
    port = free_port()
    proc = subprocess.Popen([str(BIN / 'tsic'), 'serve', str(checkpoint), '--port', str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f'http://127.0.0.1:{port}'
    wait_for(lambda: call(url + '/health', timeout=5)[0] == 200, proc)
    body, answer = bars_json(load_msft().iloc[:3000]), {}
    request = threading.Thread(target=lambda: answer.update(r=call(url + '/predict', body)))
    request.start()
    wait_for(lambda: call(url + '/health', timeout=5)[1]['in_flight'] == 1, proc)  # the request is in the server's hands
    proc.send_signal(signal.SIGTERM)
    request.join(120)
    assert proc.wait(60) == -signal.SIGTERM  # uvicorn drains, then ends by the signal it caught (so a supervisor sees why)
    assert 'r' in answer, 'the request in flight got no answer'
    status, got = answer['r']
    assert status == 200 and len(got["predictions"]) > 2900, (status, str(got)[:300])  # every window of the bars
    with pytest.raises(OSError): call(url + '/health', timeout=5)  # and then it is gone
