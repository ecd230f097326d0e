"""`medcode.engine.coder.Coder`, the import path documented before the engine was arranged by
stage; the Coder lives in `medcode.engine.coding.coder`."""

from medcode.engine.coding.coder import Coder, InputError

__all__ = ["Coder", "InputError"]
