import numpy as np
import pytest

from modelmart.errors import DeploymentNotFound, InvalidRequest
from modelmart.gateway.text_models import (
    MAX_ITEMS,
    TextModelKind,
    as_text,
    read_texts,
    text_input,
    text_usage,
)
from modelmart.serving.router import Router
from modelmart.tenancy import Principal
from modelmart.types import Datatype, Signature, TensorSpec
from tests.unit.gateway.route_fakes import EMBEDDER, TABULAR, FakeEndpoint, embed, serve

KIND = TextModelKind("embeddings", ("embedding",), ("minilm-int8",))


def test_a_string_or_a_list_of_strings_gives_texts() -> None:
    assert read_texts("hello") == ["hello"]
    assert read_texts(["a b", "c"]) == ["a b", "c"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "'input' is an empty list; send a string or a list of strings"),
        ("", "'input' is blank"),
        (["ok", "  "], "'input item 1' is blank"),
        ([1, 2, 3], "token arrays; this server takes text only"),
        ([[1, 2], [3]], "token arrays"),
        (["a", 3.5], "'input' item 1 is float"),
        ([["a"]], "'input' item 0 is list"),
        (["x"] * (MAX_ITEMS + 1), f"at most {MAX_ITEMS} fit in one request"),
    ],
)
def test_bad_inputs_say_what_to_send(value: object, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(")) as caught:
        read_texts(value)  # type: ignore[arg-type]
    assert caught.value.details == {"param": "input"}


def test_a_text_model_takes_exactly_one_one_dimensional_bytes_input() -> None:
    assert text_input(EMBEDDER) == EMBEDDER.inputs[0]
    assert text_input(TABULAR) is None
    two = Signature(inputs=(*EMBEDDER.inputs, *TABULAR.inputs), outputs=EMBEDDER.outputs)
    assert text_input(two) is None
    matrix = TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1, 1))
    assert text_input(Signature(inputs=(matrix,), outputs=EMBEDDER.outputs)) is None


def test_usage_counts_items_and_characters_and_reported_tokens() -> None:
    texts = ["héllo", "a b"]
    assert text_usage(texts, {}) == {"items": 2, "characters": 8}
    assert text_usage(texts, embed(texts)) == {"items": 2, "characters": 8, "tokens": 4}


def test_bytes_outputs_read_as_text() -> None:
    assert as_text(b"fr") == "fr"
    assert as_text(np.str_("en")) == "en"


def test_endpoint_lookup_explains_how_to_deploy_and_what_fits() -> None:
    embedder = FakeEndpoint("embedder", EMBEDDER, embed)
    router = serve(Router(), {"embedder": embedder, "iris": FakeEndpoint("iris", TABULAR, embed)})
    caller = Principal.single_user()
    assert KIND.endpoint(router, caller, "embedder") is embedder

    with pytest.raises(DeploymentNotFound, match="no deployment named 'nope'") as missing:
        KIND.endpoint(router, caller, "nope")
    assert missing.value.details == {"deployment": "nope", "param": "model"}
    with pytest.raises(InvalidRequest) as caught:
        KIND.endpoint(router, caller, "iris")
    message = caught.value.message
    assert "model 'iris' cannot do embeddings: it takes input (FP64 [-1, 4])" in message
    assert "returning ['embedding'], such as minilm-int8" in message
    assert "deployed models that fit: ['embedder']" in message
    assert caught.value.details == {"param": "model", "fitting": ["embedder"]}


def test_batch_feeds_the_texts_to_the_one_input() -> None:
    batch = KIND.batch(EMBEDDER, ["a", "b"])
    assert list(batch) == ["text"]
    assert batch["text"].dtype == object
    assert batch["text"].tolist() == ["a", "b"]
