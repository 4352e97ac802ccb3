"""bench/delay_proxy.py: the latency proxy now lives in the lab tooling (medimg_lab.delay_proxy).

Kept so that ``python bench/delay_proxy.py --listen ... --target ... --delay-ms 10`` and
bench/import_compare.py's ``from delay_proxy import DelayProxy`` keep working.
"""
from medimg_lab.delay_proxy import DelayProxy, main

__all__ = ["DelayProxy", "main"]

if __name__ == "__main__":
    main()
