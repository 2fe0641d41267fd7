"""Explanations for predictions: per-instance attributions aligned with a model's inputs.

One module per method (:mod:`linear_shap`, :mod:`tree_shap`, :mod:`kernel_shap`,
:mod:`occlusion`, :mod:`tokens`), :mod:`picker` choosing the method for a model version, and
:mod:`runner` driving one request. Methods that need the model's answers on perturbed inputs
(Kernel SHAP, occlusion, token occlusion) do not call the model themselves: they hand the
runner a batch of probes, which goes through the deployment's ordinary ``predict`` (so it
runs in the instance's worker, with its queue, timeout and crash isolation), and then turn the
answers into attributions. Their arithmetic runs in a thread, off the gateway's event loop.
"""
