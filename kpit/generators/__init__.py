"""The backends that write replies: the base class, ``template``, ``openai``, ``hf-llava``."""
