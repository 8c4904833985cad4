"""What makes ``healthgauge check`` start fast: the one-file bundle of the full path's modules
(``_fastload``, written by ``_fastload_build``) and the compiled-conditions cache (``_exprcache``,
written by ``_exprcache_write``). Each imports only ``_common``, never a sibling that imports it back.
"""
