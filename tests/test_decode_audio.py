import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scipy.signal import resample_poly

import decode_audio
from kemdy.demo.toy_corpus import make_toy_corpus
from kemdy.errors import run_cli
from kemdy.release.audio import AudioStore, read_wave


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_toy_corpus(tmp_path_factory.mktemp("corpus"), n_sessions=2, per_session=6,
                           odd_rate=8000, seconds=(0.2, 0.9))


def test_cache_matches_the_wavs(corpus, tmp_path):
    out = tmp_path / "audio"
    decode_audio.main(["--segments", corpus["segments"], "--root", corpus["root"],
                       "--sample-rate", "16000", "--max-seconds", "0.5", "--out", str(out)])
    index = pd.read_csv(out / "audio_index.csv")
    segments = pd.read_csv(corpus["segments"])
    assert list(index.columns[:3]) == ["segment_id", "offset", "length"]
    assert list(index["segment_id"]) == list(segments["segment_id"])
    assert (index["offset"].diff().dropna() == index["length"].iloc[:-1].to_numpy()).all()
    wave = np.load(out / "audio.npy", mmap_mode="r")
    assert wave.dtype == np.int16 and len(wave) == index["length"].sum()
    assert index["length"].max() == 8000  # cut to 0.5 s
    store = AudioStore(out)
    assert store.sample_rate == 16000
    resampled = 0
    for row, path in zip(index.itertuples(), segments["wav_path"]):
        data, rate = sf.read(f"{corpus['root']}/{path}", dtype="float32")
        if rate == 16000:  # 16-bit PCM round-trips exactly
            expected = data[:8000]
        else:
            expected = resample_poly(data, 16000 // rate, 1)[:8000]
            resampled += 1
        got = store.waveform(row.segment_id, 10**6)
        assert len(got) == len(expected)
        assert np.allclose(got, expected, atol=1.5 / 32768)
    assert resampled >= 2


def test_stereo_is_mixed_down(tmp_path):
    left = np.linspace(-0.5, 0.5, 1600, dtype=np.float32)
    sf.write(tmp_path / "s.wav", np.stack([left, -left / 2], axis=1), 16000, subtype="PCM_16")
    got = read_wave(tmp_path / "s.wav", 16000)
    assert np.allclose(got, left / 4, atol=2 / 32768)


def test_missing_wav_is_a_clear_error(corpus, tmp_path, capsys):
    segments = pd.read_csv(corpus["segments"])
    segments.loc[3, "wav_path"] = "wav/Session01/missing.wav"
    segments.to_csv(tmp_path / "segments.csv", index=False)
    with pytest.raises(SystemExit) as exit_:
        run_cli(decode_audio.main, ["--segments", str(tmp_path / "segments.csv"), "--root",
                                    corpus["root"], "--out", str(tmp_path / "audio")])
    assert exit_.value.code == 2
    assert "missing.wav" in capsys.readouterr().err
    assert not (tmp_path / "audio" / "audio_index.csv").exists()
    assert not (tmp_path / "audio" / "audio.npy").exists()
