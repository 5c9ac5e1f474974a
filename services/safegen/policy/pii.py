"""Sensitive information policy: Bedrock's PII entity types and custom regexes, found with time-bounded regexes.

Every pattern runs under the `regex` module's timeout, so neither a built-in pattern nor an operator's
regex can hang a worker on a crafted input (catastrophic backtracking). A pattern that times out is
treated as matching the whole text: the guardrail fails closed, and the timeout is counted.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import regex
from prometheus_client import Counter

#: Per pattern and text. Built-in patterns take microseconds on 10,000 characters; an operator's regex
#: that needs more is almost certainly backtracking.
REGEX_TIMEOUT_SECONDS = 0.1
#: Bedrock's limits on custom regexes.
MAX_REGEXES = 10
MAX_REGEX_PATTERN = 500
MAX_REGEX_NAME = 100

REGEX_TIMEOUTS = Counter(
    "safegen_guardrail_regex_timeouts_total",
    "Sensitive-information patterns that hit their time limit (the text then counts as matching)",
    ["kind"],
)


class SensitiveAction(str, enum.Enum):
    """What a sensitive-information rule does with a match (Bedrock's piiEntitiesConfig/regexesConfig actions)."""

    BLOCK = "BLOCK"  # the guardrail intervenes with its blocked message
    ANONYMIZE = "ANONYMIZE"  # the match is replaced with {TYPE} and the content goes on
    NONE = "NONE"  # detected and reported, nothing done


def _luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = ord(ch) - 48
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(m: str) -> bool:
    digits = "".join(c for c in m if c.isdigit())
    return 13 <= len(digits) <= 19 and _luhn(digits) and len(set(digits)) > 1


def _phone(m: str) -> bool:
    digits = sum(c.isdigit() for c in m)
    return 10 <= digits <= 15


def _ip(m: str) -> bool:
    try:
        ipaddress.ip_address(m)
    except ValueError:
        return False
    if ":" in m:
        # Prompt weights ("portrait :: castle") and words like "bed::" are valid IPv6 text: an address here
        # needs two groups and a digit (so "::1" alone is not reported).
        groups = [g for g in m.split(":") if g]
        return len(groups) >= 2 and any(c.isdigit() for c in m)
    return True


def _secret(m: str) -> bool:
    # 40 base64 characters with all three classes: ordinary words and hex digests do not qualify.
    return any(c.isupper() for c in m) and any(c.islower() for c in m) and any(c.isdigit() for c in m)


def _iban(m: str) -> bool:
    s = m.replace(" ", "").upper()
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


# Bedrock entity type -> (pattern, validator, group whose span is the sensitive part).
_BUILTIN: dict[str, tuple[str, Callable[[str], bool] | None, int]] = {
    "EMAIL": (
        r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}(?![\w-])",
        None,
        0,
    ),
    "PHONE": (
        r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?|\d{1,4}[ .-])(?:\d{2,4}[ .-]){1,3}\d{2,4}(?![\w-])"
        r"|(?<![\w+])\+\d{10,14}(?!\w)",
        _phone,
        0,
    ),
    "CREDIT_DEBIT_CARD_NUMBER": (r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])", _card, 0),
    "IP_ADDRESS": (
        r"(?<![\w.:])(?:(?:\d{1,3}\.){3}\d{1,3}|(?=[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:)[0-9A-Fa-f:]{2,39})(?![\w.:])",
        _ip,
        0,
    ),
    "URL": (r"(?<![\w@/])(?:https?://|www\.)[^\s<>\"'`]+(?<![.,;:!?)\]}])", None, 0),
    "US_SOCIAL_SECURITY_NUMBER": (
        r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])",
        None,
        0,
    ),
    "AWS_ACCESS_KEY": (
        r"(?<![A-Z0-9])(?:AKIA|ASIA|AIDA|AROA|AGPA|ANPA|ANVA|AIPA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])",
        None,
        0,
    ),
    "AWS_SECRET_KEY": (r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])", _secret, 0),
    "PASSWORD": (
        r"(?i)\b(?:password|passwd|passphrase|pwd|passcode)\b\s*(?:is|:|=)\s*[\"']?([^\s\"',;]{3,128})",
        None,
        1,
    ),
    "MAC_ADDRESS": (r"(?<![\w:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![\w:-])", None, 0),
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER": (
        r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])",
        _iban,
        0,
    ),
}
SUPPORTED_PII_TYPES: tuple[str, ...] = tuple(sorted(_BUILTIN))
#: Bedrock's other entity types: named here so a file using one is told it is not supported, not misspelt.
UNSUPPORTED_BEDROCK_TYPES = frozenset(
    {
        "ADDRESS",
        "AGE",
        "NAME",
        "USERNAME",
        "PIN",
        "DRIVER_ID",
        "LICENSE_PLATE",
        "VEHICLE_IDENTIFICATION_NUMBER",
        "CREDIT_DEBIT_CARD_CVV",
        "CREDIT_DEBIT_CARD_EXPIRY",
        "CA_HEALTH_NUMBER",
        "CA_SOCIAL_INSURANCE_NUMBER",
        "SWIFT_CODE",
        "UK_NATIONAL_HEALTH_SERVICE_NUMBER",
        "UK_NATIONAL_INSURANCE_NUMBER",
        "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER",
        "US_BANK_ACCOUNT_NUMBER",
        "US_BANK_ROUTING_NUMBER",
        "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
        "US_PASSPORT_NUMBER",
    }
)
_COMPILED = {name: regex.compile(p) for name, (p, _, _) in _BUILTIN.items()}


class RuleKind(str, enum.Enum):
    PII = "PII"
    REGEX = "REGEX"


@dataclass(frozen=True)
class SensitiveRule:
    """One configured PII entity type or custom regex, with its action for input and for output."""

    kind: RuleKind
    name: str  # the entity type (EMAIL) or the regex's name
    input_action: SensitiveAction | None  # None: the rule is off for that source (inputEnabled: false)
    output_action: SensitiveAction | None
    pattern: str = ""  # the custom regex's source (empty for built-in entity types)
    description: str = ""

    def action(self, output: bool) -> SensitiveAction | None:
        return self.output_action if output else self.input_action


@dataclass(frozen=True)
class SensitiveMatch:
    """A match of one rule; start/end are code-point offsets into the text (end exclusive)."""

    kind: RuleKind
    name: str
    match: str
    start: int
    end: int
    action: SensitiveAction  # the rule's configured action for this source
    timed_out: bool = False


class _ConfigError(ValueError):
    pass


def _action(value: Any, where: str, allowed: Iterable[SensitiveAction] = tuple(SensitiveAction)) -> SensitiveAction:
    allowed = tuple(allowed)
    try:
        a = SensitiveAction(str(value).strip().upper())
    except ValueError:
        a = None
    if a not in allowed:
        raise _ConfigError(f"{where}: {value!r} is not one of {', '.join(x.value for x in allowed)}")
    return a


def _actions(cfg: dict[str, Any], where: str) -> tuple[SensitiveAction, SensitiveAction]:
    """Bedrock's `action` plus optional `inputAction`/`outputAction` overriding it per source."""
    if "action" not in cfg and not ("inputAction" in cfg and "outputAction" in cfg):
        raise _ConfigError(f"{where}: action is required (BLOCK, ANONYMIZE or NONE)")
    base = cfg.get("action", "NONE")
    return (
        _action(cfg.get("inputAction", base), f"{where}.inputAction"),
        _action(cfg.get("outputAction", base), f"{where}.outputAction"),
    )


def _check_keys(obj: Any, allowed: set[str], where: str) -> None:
    if not isinstance(obj, dict):
        raise _ConfigError(f"{where}: expected a mapping")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def parse_sensitive_policy(cfg: Any, where: str) -> tuple[SensitiveRule, ...]:
    """sensitiveInformationPolicyConfig -> rules; raises ValueError naming the key (the caller adds the file)."""
    if not cfg:
        return ()
    _check_keys(cfg, {"piiEntitiesConfig", "regexesConfig"}, where)
    rules: list[SensitiveRule] = []
    seen: set[str] = set()
    for i, e in enumerate(cfg.get("piiEntitiesConfig") or []):
        w = f"{where}.piiEntitiesConfig[{i}]"
        _check_keys(e, {"type", "action", "inputAction", "outputAction", "inputEnabled", "outputEnabled"}, w)
        kind = str(e.get("type", "")).strip().upper()
        if kind in UNSUPPORTED_BEDROCK_TYPES:
            raise _ConfigError(
                f"{w}.type: {kind} is a Bedrock entity type safegen cannot detect reliably; "
                f"supported: {', '.join(SUPPORTED_PII_TYPES)} (use regexesConfig for the rest)"
            )
        if kind not in _BUILTIN:
            raise _ConfigError(f"{w}.type: {e.get('type')!r} is not one of {', '.join(SUPPORTED_PII_TYPES)}")
        if kind in seen:
            raise _ConfigError(f"{w}.type: {kind} configured twice")
        seen.add(kind)
        on_input, on_output = _enabled(e, w, *_actions(e, w))
        rules.append(SensitiveRule(RuleKind.PII, kind, on_input, on_output))
    regexes = cfg.get("regexesConfig") or []
    if len(regexes) > MAX_REGEXES:
        raise _ConfigError(f"{where}.regexesConfig: {len(regexes)} regexes; at most {MAX_REGEXES}")
    names: set[str] = set()
    for i, r in enumerate(regexes):
        w = f"{where}.regexesConfig[{i}]"
        _check_keys(
            r,
            {
                "name",
                "description",
                "pattern",
                "action",
                "inputAction",
                "outputAction",
                "inputEnabled",
                "outputEnabled",
            },
            w,
        )
        name = str(r.get("name", "")).strip()
        if not name or len(name) > MAX_REGEX_NAME or not regex.fullmatch(r"[A-Za-z0-9_ -]+", name):
            raise _ConfigError(f"{w}.name: 1-{MAX_REGEX_NAME} letters, digits, spaces, '_' or '-' required")
        if name in names:
            raise _ConfigError(f"{w}.name: {name!r} configured twice")
        names.add(name)
        pattern = r.get("pattern")
        if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_REGEX_PATTERN:
            raise _ConfigError(f"{w}.pattern: a string of 1-{MAX_REGEX_PATTERN} characters is required")
        try:
            compiled = regex.compile(pattern)
        except regex.error as err:
            raise _ConfigError(f"{w}.pattern: {err}") from None
        if compiled.search("", timeout=REGEX_TIMEOUT_SECONDS) is not None:
            raise _ConfigError(f"{w}.pattern: matches the empty string, so it would match every text")
        on_input, on_output = _enabled(r, w, *_actions(r, w))
        rules.append(SensitiveRule(RuleKind.REGEX, name, on_input, on_output, pattern, str(r.get("description") or "")))
    return tuple(rules)


def _enabled(
    cfg: dict[str, Any], where: str, ia: SensitiveAction, oa: SensitiveAction
) -> tuple[SensitiveAction | None, SensitiveAction | None]:
    """Bedrock's inputEnabled/outputEnabled: false turns the rule off for that source."""
    for key in ("inputEnabled", "outputEnabled"):
        if key in cfg and not isinstance(cfg[key], bool):
            raise _ConfigError(f"{where}.{key}: expected true or false")
    return (ia if cfg.get("inputEnabled", True) else None), (oa if cfg.get("outputEnabled", True) else None)


_CUSTOM_CACHE: dict[str, Any] = {}


def _compiled(rule: SensitiveRule) -> Any:  # a `regex` pattern (the package has no types)
    if rule.kind == RuleKind.PII:
        return _COMPILED[rule.name]
    c = _CUSTOM_CACHE.get(rule.pattern)
    if c is None:
        c = _CUSTOM_CACHE[rule.pattern] = regex.compile(rule.pattern)
    return c


def find_sensitive(text: str, rules: Iterable[SensitiveRule], output: bool) -> list[SensitiveMatch]:
    """Every match of every rule enabled for this source, in position order."""
    out: list[SensitiveMatch] = []
    for rule in rules:
        action = rule.action(output)
        if action is None:
            continue
        pattern = _compiled(rule)
        validator, group = (_BUILTIN[rule.name][1], _BUILTIN[rule.name][2]) if rule.kind == RuleKind.PII else (None, 0)
        found: list[SensitiveMatch] = []
        try:
            for m in pattern.finditer(text, timeout=REGEX_TIMEOUT_SECONDS):
                start, end = m.span(group)
                if start < 0 or end <= start:
                    continue
                value = text[start:end]
                if validator is not None and not validator(value):
                    continue
                found.append(SensitiveMatch(rule.kind, rule.name, value, start, end, action))
        except TimeoutError:
            REGEX_TIMEOUTS.labels(rule.kind.value).inc()
            found = [SensitiveMatch(rule.kind, rule.name, text, 0, len(text), action, timed_out=True)]
        out += found
    out.sort(key=lambda s: (s.start, -s.end, s.name))
    return out


def anonymize(text: str, matches: Iterable[SensitiveMatch]) -> str:
    """`text` with every ANONYMIZE match replaced by {NAME}; where matches overlap the earliest, longest wins."""
    spans = sorted((m for m in matches if m.action == SensitiveAction.ANONYMIZE), key=lambda m: (m.start, -m.end))
    parts, pos = [], 0
    for m in spans:
        if m.start < pos:
            continue  # inside a span already replaced
        parts += [text[pos : m.start], "{" + m.name + "}"]
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts)
