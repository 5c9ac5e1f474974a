"""Sensitive information: Bedrock's entity types (with Luhn and IP checks), custom regexes, ANONYMIZE, bounded regexes."""

from __future__ import annotations

import time

import pytest

from safegen.policy.pii import (
    SUPPORTED_PII_TYPES,
    RuleKind,
    SensitiveAction,
    SensitiveRule,
    anonymize,
    find_sensitive,
    parse_sensitive_policy,
)

A = SensitiveAction


def _rule(name, action=A.ANONYMIZE):
    return SensitiveRule(RuleKind.PII, name, action, action)


@pytest.mark.parametrize(
    "kind,text,expected",
    [
        ("EMAIL", "write to jane.doe+art@example.co.uk today", "jane.doe+art@example.co.uk"),
        ("EMAIL", "a cat @ the window, email me", None),
        ("PHONE", "call +1 (555) 123-4567 now", "+1 (555) 123-4567"),
        ("PHONE", "call 020 7946 0958 please", "020 7946 0958"),
        ("PHONE", "ring +447700900123", "+447700900123"),
        ("PHONE", "a 1920 1080 wallpaper, 4k", None),
        ("CREDIT_DEBIT_CARD_NUMBER", "card 4111 1111 1111 1111 exp", "4111 1111 1111 1111"),
        ("CREDIT_DEBIT_CARD_NUMBER", "card 5500-0000-0000-0004", "5500-0000-0000-0004"),
        ("CREDIT_DEBIT_CARD_NUMBER", "card 4111 1111 1111 1112 fails Luhn", None),
        ("CREDIT_DEBIT_CARD_NUMBER", "serial 0000000000000000", None),
        ("IP_ADDRESS", "server at 192.168.1.20, port 22", "192.168.1.20"),
        ("IP_ADDRESS", "ipv6 2001:db8::8a2e:370:7334 here", "2001:db8::8a2e:370:7334"),
        ("IP_ADDRESS", "version 999.1.1.1 is not an address", None),
        ("IP_ADDRESS", "at 12:30:45 the train left", None),
        ("IP_ADDRESS", "portrait :: athletic, in bed:: horror", None),  # prompt weights, not IPv6
        ("URL", "see https://example.com/a?b=c.", "https://example.com/a?b=c"),
        ("URL", "or www.example.org/path", "www.example.org/path"),
        ("US_SOCIAL_SECURITY_NUMBER", "ssn 123-45-6789 on file", "123-45-6789"),
        ("US_SOCIAL_SECURITY_NUMBER", "ssn 000-12-3456 is invalid", None),
        ("US_SOCIAL_SECURITY_NUMBER", "a 123-45 6789 mix", None),
        ("AWS_ACCESS_KEY", "key AKIAIOSFODNN7EXAMPLE in env", "AKIAIOSFODNN7EXAMPLE"),
        (
            "AWS_SECRET_KEY",
            "secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY end",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        ("AWS_SECRET_KEY", "a" * 40, None),
        ("PASSWORD", "my password is hunter22, thanks", "hunter22"),
        ("PASSWORD", "pwd=S3cr3t!", "S3cr3t!"),
        ("PASSWORD", "a password manager on a desk", None),
        ("MAC_ADDRESS", "nic 00:1A:2B:3C:4D:5E up", "00:1A:2B:3C:4D:5E"),
        ("INTERNATIONAL_BANK_ACCOUNT_NUMBER", "iban GB82 WEST 1234 5698 7654 32 ok", "GB82 WEST 1234 5698 7654 32"),
        ("INTERNATIONAL_BANK_ACCOUNT_NUMBER", "iban GB82 WEST 1234 5698 7654 33 bad", None),
    ],
)
def test_entity_types(kind, text, expected):
    found = [m.match for m in find_sensitive(text, [_rule(kind)], output=False)]
    assert found == ([expected] if expected else [])


def test_ordinary_prompts_have_no_pii():
    rules = [_rule(k) for k in SUPPORTED_PII_TYPES]
    for text in [
        "portrait of a beautiful elf princess, intricate, 8k, artstation, by greg rutkowski",
        "a cozy cabin in a snowy forest at night, 35mm, f/1.8, 1/200s, iso 400",
        "cyberpunk city street in the rain, neon signs, 2077, blade runner 2049",
        "A man riding a horse with trees and buildings in background.",
    ]:
        assert find_sensitive(text, rules, output=False) == [], text


def test_anonymize_replaces_with_type_and_keeps_the_rest():
    rules = [_rule("EMAIL"), _rule("PHONE"), _rule("CREDIT_DEBIT_CARD_NUMBER", A.BLOCK)]
    text = "mail bob@example.com or call 555-123-4567, card 4111 1111 1111 1111"
    matches = find_sensitive(text, rules, output=False)
    assert [m.name for m in matches] == ["EMAIL", "PHONE", "CREDIT_DEBIT_CARD_NUMBER"]
    # Only ANONYMIZE matches are replaced; BLOCK ones are the caller's business.
    assert anonymize(text, matches) == "mail {EMAIL} or call {PHONE}, card 4111 1111 1111 1111"


def test_input_and_output_actions_differ_and_disabled_rules_do_not_run():
    [rule] = parse_sensitive_policy(
        {"piiEntitiesConfig": [{"type": "PASSWORD", "action": "ANONYMIZE", "outputAction": "BLOCK"}]}, "s"
    )
    assert rule.action(output=False) == A.ANONYMIZE and rule.action(output=True) == A.BLOCK
    [off] = parse_sensitive_policy(
        {"piiEntitiesConfig": [{"type": "EMAIL", "action": "BLOCK", "inputEnabled": False}]}, "s"
    )
    assert find_sensitive("a@b.io", [off], output=False) == []
    assert [m.action for m in find_sensitive("x a@bc.io", [off], output=True)] == [A.BLOCK]


def test_custom_regex_is_named_in_the_placeholder():
    rules = parse_sensitive_policy(
        {"regexesConfig": [{"name": "ORDER_ID", "pattern": r"\bORD-\d{6}\b", "action": "ANONYMIZE"}]}, "s"
    )
    text = "where is ORD-123456?"
    assert anonymize(text, find_sensitive(text, rules, output=False)) == "where is {ORDER_ID}?"


def test_catastrophic_regex_is_bounded_and_fails_closed():
    rules = parse_sensitive_policy(
        {"regexesConfig": [{"name": "evil", "pattern": r"(a|aa)+$", "action": "BLOCK"}]}, "s"
    )
    t0 = time.perf_counter()
    [m] = find_sensitive("a" * 40 + "!", rules, output=False)
    assert time.perf_counter() - t0 < 2.0  # bounded by the timeout (0.1 s), not exponential
    assert m.timed_out and m.action == A.BLOCK and (m.start, m.end) == (0, 41)


@pytest.mark.parametrize(
    "cfg,fragment",
    [
        (
            {"piiEntitiesConfig": [{"type": "NAME", "action": "BLOCK"}]},
            "NAME is a Bedrock entity type safegen cannot detect",
        ),
        ({"piiEntitiesConfig": [{"type": "EMAILS", "action": "BLOCK"}]}, "'EMAILS' is not one of"),
        ({"piiEntitiesConfig": [{"type": "EMAIL"}]}, "action is required"),
        ({"piiEntitiesConfig": [{"type": "EMAIL", "action": "MASK"}]}, r"piiEntitiesConfig\[0\].inputAction: 'MASK'"),
        ({"piiEntitiesConfig": [{"type": "EMAIL", "action": "BLOCK"}, {"type": "EMAIL", "action": "NONE"}]}, "twice"),
        ({"regexesConfig": [{"name": "x", "pattern": "(", "action": "BLOCK"}]}, r"regexesConfig\[0\].pattern"),
        ({"regexesConfig": [{"name": "x", "pattern": "a*", "action": "BLOCK"}]}, "empty string"),
        ({"regexesConfig": [{"name": "x", "pattern": "a" * 501, "action": "BLOCK"}]}, "1-500 characters"),
        ({"regexesConfig": [{"name": "x/y", "pattern": "a", "action": "BLOCK"}]}, "name"),
        ({"regexesConfig": [{"name": f"r{i}", "pattern": "a", "action": "NONE"} for i in range(11)]}, "at most 10"),
        ({"regexesConfig": [{"name": "x", "pattern": "a", "action": "BLOCK", "flags": "i"}]}, "unknown key"),
        ({"piiEntities": []}, "unknown key"),
    ],
)
def test_bad_sensitive_policies_name_the_key(cfg, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_sensitive_policy(cfg, "sensitiveInformationPolicyConfig")
