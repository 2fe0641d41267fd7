import modelmart


def test_public_surface_is_pinned() -> None:
    # Changing this list is a release-note event: it is what users may import.
    assert sorted(modelmart.__all__) == [
        "AsyncClient",
        "Client",
        "Datatype",
        "ModelMartError",
        "Settings",
        "Signature",
        "TensorSpec",
        "__version__",
    ]
    for name in modelmart.__all__:
        assert hasattr(modelmart, name)
