"""Text encoders of every supported family (kemdy.demo.families look-alikes): they load as
their bare encoder, the pre-run check knows which have a pooler, and they train and
predict (text-only, in process)."""


import numpy as np
import pandas as pd
import pytest

import train
from kemdy.encoder_checks import NO_POOLER, TEXT_FAMILIES, check_encoders, encoder_config
from kemdy.demo import families
from kemdy.demo.toy_corpus import toy_workspace, train_args
from kemdy.errors import InputError
from kemdy.train.batches import pad_tokens
from kemdy.train.encoders import load_text_encoder
from workflow_utils import predict_gap

CLASS_OF = {"koelectra": "ElectraModel", "kr-bert": "BertModel",
            "xlm-roberta": "XLMRobertaModel", "deberta-v3": "DebertaV2Model"}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    base = tmp_path_factory.mktemp("text")
    paths = toy_workspace(base / "ws", n_sessions=4, per_session=12, max_seconds=1.6)
    texts = pd.read_csv(paths["segments"])["text"]
    return {**paths, **{f: str(families.text_like(base / f, f, texts)) for f in families.TEXT}}


@pytest.mark.parametrize("family", list(families.TEXT))
def test_loads_as_its_encoder_and_the_check_knows_its_pooler(ws, family):
    tokenizer, model = load_text_encoder(ws[family])
    assert type(model).__name__ == CLASS_OF[family]
    kind = encoder_config(ws[family], "encoders.text", ())["model_type"]
    assert kind in TEXT_FAMILIES
    ids, mask = pad_tokens([np.array(x) for x in tokenizer(["안녕하세요", "좋아요"])["input_ids"]],
                           tokenizer.pad_token_id)
    out = model(input_ids=ids, attention_mask=mask)
    assert (getattr(out, "pooler_output", None) is None) == (kind in NO_POOLER)
    specs = {"v": {"modality": "text", "max_len": 32, "text_pooling": "pooled"}}
    if kind in NO_POOLER:
        with pytest.raises(InputError, match="variants.v.text_pooling"):
            check_encoders({"encoders": {"text": ws[family]}}, specs)
    else:
        check_encoders({"encoders": {"text": ws[family]}}, specs)


@pytest.mark.parametrize("frozen", [False, True], ids=["trained", "frozen"])
@pytest.mark.parametrize("family", list(families.TEXT))
def test_trains_and_predicts_as_training_scored(ws, tmp_path, family, frozen):
    pooling = "first_token" if family in ("koelectra", "deberta-v3") else "pooled"
    spec = {"epochs": 1, "lr": 3e-3, "batch_size": 8, "max_len": 32, "seed": 3,
            "modality": "text", "loss": "ce", "text_pooling": pooling, "freeze_text": frozen}
    train.main(train_args({**ws, "text": ws[family]}, tmp_path, "v", spec))
    assert predict_gap(ws["data"], ws["root"], tmp_path) < 1e-5


def test_a_job_told_to_pool_without_a_pooler_stops_with_one_message(ws, tmp_path):
    """train.py run by hand (no pre-run check): an InputError before any step."""
    spec = {"epochs": 1, "max_len": 32, "modality": "text", "loss": "ce"}
    with pytest.raises(InputError, match="has no pooler") as err:
        train.main(train_args({**ws, "text": ws["koelectra"]}, tmp_path, "v", spec))
    assert err.value.key == "text_pooling" and "first_token" in err.value.fix
