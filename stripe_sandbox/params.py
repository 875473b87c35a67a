"""Parameter schemas derived from the official SDK's typed params (``stripe.params``).

Each endpoint names a TypedDict class (e.g. ``PaymentIntentCreateParams``); this module turns
it into a small schema tree used to reject unknown parameters and obviously wrong types, the
way Stripe answers ``parameter_unknown`` / ``parameter_invalid_*``.
"""

from __future__ import annotations

import functools
import sys
import types
import typing
from typing import Any

# The SDK is a dependency of the sandbox: its typed params are where the schemas come from.
import stripe.params as _sp
from stripe._request_options import RequestOptions

from .errors import invalid_request

try:
    from typing_extensions import is_typeddict as _te_is_typeddict
except ImportError:  # pragma: no cover
    _te_is_typeddict = typing.is_typeddict


def _is_typeddict(tp: Any) -> bool:
    return bool(_te_is_typeddict(tp) or typing.is_typeddict(tp))


_REQUEST_OPTION_KEYS = (
    set(getattr(RequestOptions, "__annotations__", {})) if RequestOptions is not None else set()
)


class Node:
    """A schema node: ``kinds`` is a set of accepted shapes."""

    __slots__ = ("kinds", "fields", "item", "literals", "required", "free_dict", "open_str")

    def __init__(self) -> None:
        self.kinds: set[str] = set()  # "str", "int", "float", "bool", "dict", "list", "any"
        self.fields: dict[str, Node] = {}
        self.item: Node | None = None
        self.literals: set[str] = set()
        self.required: set[str] = set()
        self.free_dict = False  # Dict[str, ...]: any keys (metadata)
        self.open_str = False  # plain ``str`` accepted (not only literals)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Node({self.kinds}, fields={list(self.fields)})"


def _strip_wrappers(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    name = getattr(origin, "__name__", "") or getattr(tp, "_name", "") or ""
    while name in ("NotRequired", "Required") or str(origin).endswith(("NotRequired", "Required")):
        tp = typing.get_args(tp)[0]
        origin = typing.get_origin(tp)
        name = getattr(origin, "__name__", "") or ""
    return tp


def _resolve(tp: Any, module: types.ModuleType) -> Any:
    if isinstance(tp, typing.ForwardRef):
        tp = tp.__forward_arg__
    if isinstance(tp, str):
        ns = dict(vars(typing))
        try:
            import typing_extensions

            ns.update(vars(typing_extensions))
        except ImportError:  # pragma: no cover
            pass
        ns.update(vars(module))
        try:
            tp = eval(tp, ns)  # noqa: S307 - SDK-provided annotation strings
        except Exception:
            return Any
    return tp


def _merge(into: Node, tp: Any, module: types.ModuleType, depth: int) -> None:
    tp = _strip_wrappers(_resolve(tp, module))
    if isinstance(tp, typing.ForwardRef | str):
        tp = _strip_wrappers(_resolve(tp, module))
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or isinstance(tp, types.UnionType):
        # The SDK types enums as ``Literal[...] | str`` so that newer values do not break old
        # SDKs; the API itself only accepts the listed values, so the literals win over ``str``
        # (``Literal[""] | str`` stays an open string: "" only means "unset").
        closed = any(_enum_values(a, module) for a in args)
        for a in args:
            if closed and _strip_wrappers(_resolve(a, module)) is str:
                continue
            _merge(into, a, module, depth)
        return
    if origin is typing.Literal or str(origin).endswith("Literal"):
        into.kinds.add("str")
        into.literals.update(str(a) for a in args)
        return
    if origin in (list, typing.List):  # noqa: UP006
        into.kinds.add("list")
        if into.item is None:
            into.item = Node()
        if args:
            _merge(into.item, args[0], module, depth + 1)
        return
    if origin in (dict, typing.Dict) or getattr(tp, "__name__", "") == "UntypedStripeObject":  # noqa: UP006
        into.kinds.add("dict")
        into.free_dict = True
        return
    if origin is not None and getattr(origin, "__name__", "") == "UntypedStripeObject":
        into.kinds.add("dict")
        into.free_dict = True
        return
    if tp is str:
        into.kinds.add("str")
        into.open_str = True
        return
    if tp is bool:
        into.kinds.add("bool")
        return
    if tp is int:
        into.kinds.add("int")
        return
    if tp is float:
        into.kinds.add("float")
        return
    if isinstance(tp, type) and _is_typeddict(tp):
        into.kinds.add("dict")
        if depth > 12:
            into.free_dict = True
            return
        sub_module = sys.modules.get(tp.__module__, module)
        for key, ann in tp.__annotations__.items():
            if key in _REQUEST_OPTION_KEYS and depth == 0:
                continue
            child = into.fields.setdefault(key, Node())
            _merge(child, ann, sub_module, depth + 1)
        into.required |= set(getattr(tp, "__required_keys__", set())) - _REQUEST_OPTION_KEYS
        return
    into.kinds.add("any")


def _enum_values(tp: Any, module: types.ModuleType) -> set[str]:
    """The non-empty values of a ``Literal[...]`` annotation (empty for anything else)."""
    tp = _strip_wrappers(_resolve(tp, module))
    origin = typing.get_origin(tp)
    if origin is typing.Literal or str(origin).endswith("Literal"):
        return {str(a) for a in typing.get_args(tp) if a != ""}
    return set()


@functools.lru_cache(maxsize=512)
def schema(class_name: str) -> Node | None:
    mod: Any = _sp
    name = class_name
    if "." in class_name:
        sub, name = class_name.split(".", 1)
        import importlib

        mod = importlib.import_module(f"stripe.params.{sub}")
    cls = getattr(mod, name, None)
    if cls is None:
        raise KeyError(class_name)
    root = Node()
    _merge(root, cls, sys.modules[cls.__module__], 0)
    # required keys of the root: only what the annotation marks as required
    root.required = {
        k
        for k, ann in cls.__annotations__.items()
        if k not in _REQUEST_OPTION_KEYS and "NotRequired" not in str(ann)
    }
    return root


_EXTRA_ALWAYS = {"expand"}

# Parameters this API version removed with an error code of their own (instead of the generic
# "Received unknown parameter"): class name -> {param: (code, message)}.
_PMT_GONE = (
    "payment_method_types_no_longer_supported",
    "The `payment_method_types` parameter is no longer supported on this API version. Use "
    "dynamic payment methods (`automatic_payment_methods`), `excluded_payment_method_types` or "
    "`allowed_payment_method_types` instead.",
)
REMOVED: dict[str, dict[str, tuple[str, str]]] = {
    "PaymentIntentCreateParams": {"payment_method_types": _PMT_GONE},
    "PaymentIntentUpdateParams": {"payment_method_types": _PMT_GONE},
    "PaymentIntentConfirmParams": {"payment_method_types": _PMT_GONE},
}


def check_removed(class_name: str, params: dict[str, Any]) -> None:
    for name, (code, message) in REMOVED.get(class_name, {}).items():
        if name in params:
            raise invalid_request(message, param=name, code=code)


def _fmt(path: list[str]) -> str:
    if not path:
        return ""
    out = path[0]
    for p in path[1:]:
        out += f"[{p}]"
    return out


def validate(node: Node | None, value: Any, path: list[str] | None = None) -> None:
    """Raise a Stripe-shaped error for unknown parameters or wrong shapes."""
    if node is None:
        return None
    path = path or []
    if "any" in node.kinds:
        return None
    if isinstance(value, dict):
        if "dict" not in node.kinds:
            if "list" in node.kinds and all(k.isdigit() for k in value):
                return validate(node, [value[k] for k in sorted(value, key=int)], path)
            raise invalid_request(
                f"Invalid {_kind_name(node)}: {_fmt(path)} must be a {_kind_name(node)}, "
                "not a hash",
                param=_fmt(path),
                code="parameter_invalid_string"
                if "str" in node.kinds
                else "parameter_invalid_integer",
            )
        if node.free_dict:
            for k, v in value.items():
                if isinstance(v, dict | list):
                    raise invalid_request(
                        f"Invalid value for {_fmt([*path, k])}: metadata values must be strings",
                        param=_fmt([*path, k]),
                    )
            return None
        for k, v in value.items():
            child = node.fields.get(k)
            if child is None:
                if not path and k in _EXTRA_ALWAYS:
                    continue
                raise invalid_request(
                    f"Received unknown parameter: {_fmt([*path, k])}",
                    param=_fmt([*path, k]),
                    code="parameter_unknown",
                )
            validate(child, v, [*path, k])
        if path:  # nested required keys (root required keys are checked by handlers)
            for k in node.required:
                if k not in value:
                    raise invalid_request(
                        f"Missing required param: {_fmt([*path, k])}.",
                        param=_fmt([*path, k]),
                        code="parameter_missing",
                    )
        return None
    if isinstance(value, list):
        if "list" not in node.kinds:
            raise invalid_request(
                f"Invalid {_kind_name(node)}: {_fmt(path)} must be a {_kind_name(node)}, "
                "not an array",
                param=_fmt(path),
                code="parameter_invalid_string" if "str" in node.kinds else None,
            )
        for i, v in enumerate(value):
            validate(node.item, v, [*path, str(i)])
        return None
    # scalar string from the form
    s = "" if value is None else str(value)
    if s == "":
        return None  # empty string: unset (Stripe accepts "" for nullable fields)
    kinds = node.kinds
    if "str" in kinds and node.open_str:
        return None
    ok = False
    if "int" in kinds and _is_int(s):
        ok = True
    if "float" in kinds and _is_float(s):
        ok = True
    if "bool" in kinds and s in ("true", "false"):
        ok = True
    if "str" in kinds and s in node.literals:
        ok = True
    if ok:
        return None
    if not any(node.literals):
        # a `Literal[""]` alternative only lets "" unset the field: no string is a value here
        kinds = kinds - {"str"}
    if "dict" in kinds and not kinds - {"dict"}:
        raise invalid_request(
            f"Invalid object: {_fmt(path)} must be a hash",
            param=_fmt(path),
            code="parameter_invalid",
        )
    if "list" in kinds and not kinds - {"list"}:
        raise invalid_request(
            f"Invalid array: {_fmt(path)} must be an array",
            param=_fmt(path),
            code="parameter_invalid",
        )
    if "int" in kinds:
        raise invalid_request(
            f"Invalid integer: {s[:60]}", param=_fmt(path), code="parameter_invalid_integer"
        )
    if "bool" in kinds:
        raise invalid_request(
            f"Invalid boolean: {s[:60]}", param=_fmt(path), code="parameter_invalid_boolean"
        )
    if "float" in kinds:
        raise invalid_request(
            f"Invalid decimal: {s[:60]}", param=_fmt(path), code="parameter_invalid"
        )
    if any(node.literals):
        allowed = ", ".join(f"`{v}`" for v in sorted(node.literals) if v)
        raise invalid_request(
            f"Invalid {_fmt(path)}: must be one of {allowed}",
            param=_fmt(path),
            code="parameter_invalid",
        )
    return None


def _kind_name(node: Node) -> str:
    for k, n in (("str", "string"), ("int", "integer"), ("bool", "boolean"), ("list", "array")):
        if k in node.kinds:
            return n
    return "object"


def _is_int(s: str) -> bool:
    if s.startswith("-"):
        s = s[1:]
    return s.isdigit() and len(s) < 19


def _is_float(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
