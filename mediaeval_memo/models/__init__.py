"""The one place that knows model names: Qwen-VL and Gemma-3 loaders and the causal-LM loader the rationales use
(`causal_lm`), by hub name, local path or built-in name (`tiny-random-*` random models at toy size,
`random-qwen2.5-vl-7b` at the real size), and 4-bit loading settings.
Importing a module here imports torch; nothing downloads until a hub name is loaded."""
