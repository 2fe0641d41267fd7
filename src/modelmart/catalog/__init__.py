"""The built-in catalogue: pretrained models whose files ship inside installed packages,
registered on first start and listed with a model card each (``GET /v1/catalog``)."""
