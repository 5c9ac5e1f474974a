"""Threat detection: deterministic rules for first/second-person intent to kill or hurt someone, as VIOLENCE with spans.

Why a rule and not only the classifier: the category classifier was trained on image prompts, where
threats are rare, and gives "I WILL KILL YOU AND YOUR FAMILY" no VIOLENCE confidence at all
(docs/image-moderation.md). A threat has a grammar the classifier does not need to learn: a speaker
("I", "we", "let's"), an intent ("will", "'m going to", "wanna"), a violent verb in its base form and a
*person or place* as its object. Requiring all of them is what keeps it precise: "kill the process",
"this song kills", "killer whale", "I could kill for a pizza" and "shoot a photo" have no person object,
no speaker with intent, or no base-form verb.

Patterns (each is one `ThreatMatch.kind`):
- `intent`: speaker + intent + verb + object: "I will kill you", "we are going to shoot up the school",
  "imma stab your whole family", "let's bomb the mosque".
- `imperative`: verb + object at the start of a sentence or quote ("Kill them all", 'a sign: "shoot the
  cops"'), or anywhere with a group as object ("... saying kill all immigrants").
- `death_to`: "death to all X", "death to (the) immigrants / you / them".
- `second_person`: "you will die", "you are going to be killed", "your family will be shot".

Words are read as the word lists read them (safegen.text.words.analyze: Unicode folding, homoglyphs,
leetspeak and spaced-out letters, "k i l l", "k1ll", "y0u"), and spans are code-point offsets into the
original text, like the word lists' matches. Deterministic, linear in the text, no model.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from safegen.text.normalize import Normalized
from safegen.text.words import Token, analyzed

#: Violent verbs (base form) whose object must be a person.
PERSON_VERBS = frozenset(
    """
kill murder stab behead decapitate hurt strangle slaughter execute lynch choke rape torture butcher massacre
hang burn assassinate exterminate gas shank slit shoot gun cut punch beat
""".split()
)
#: Verbs (or verb + particle, below) whose object may also be a place: "bomb the school", "shoot up the mall".
PLACE_VERBS = frozenset("bomb nuke attack blow shoot burn".split())
#: Verbs that only threaten with a particle: "blow up", "cut open" ("blow the candles", "cut the cake").
NEEDS_PARTICLE = {"blow": ("up",), "cut": ("up", "open")}  # "beat": see _verb_object
VERBS = PERSON_VERBS | PLACE_VERBS

#: Who speaks. "imma", "ima", "ill" (I'll without its apostrophe) carry their intent with them.
SPEAKERS = frozenset("i we im".split())  # "im": I'm without its apostrophe
SPEAKER_WITH_INTENT = frozenset("imma ima ill lets".split())
#: Intent words that may open a sentence with the speaker left out: "gonna kill you", "going to shoot him".
DROPPED_SPEAKER = frozenset("gonna finna wanna gon going".split())
#: "I hope you die", "we want them dead": a wished death is a threat too.
WISH = frozenset("hope wish want wants".split())
WISHED = frozenset("die dies dead killed shot murdered burn rot".split())
_WISH_GLUE = frozenset("would to will were was get gets be just all".split())
#: Words saying the speaker means it; one of them must appear between speaker and verb.
INTENT = frozenset(
    """
will shall ll gonna gon finna wanna going about want wants plan planning intend intending must should gotta
need tryna trying ma promise
""".split()
)
#: Words that may stand between speaker and verb without changing the meaning.
FILLERS = INTENT | frozenset(
    """
am m are re to really fucking fuckin definitely totally just so literally actually personally then now soon
come and go na also seriously still swear i we gonna s us gladly happily
""".split()
)

#: Objects that are people.
PRONOUNS = frozenset("you u ya yall them him her everyone everybody yourselves".split())
POSSESSIVES = frozenset("your ur yo his her their".split())
PERSON_NOUNS = frozenset(
    """
family families kid kids child children wife husband mom mother mum dad father son sons daughter daughters
brother brothers sister sisters friend friends parents baby babies girlfriend boyfriend grandma grandmother
grandpa grandfather teacher teachers student students classmates coworkers neighbor neighbors neighbour
neighbours president judge mayor senator governor cop cops police officer officers policeman policemen
people everyone everybody hostage hostages prisoners witness witnesses bitch bitches
""".split()
)
#: People named as a group: an imperative with one of these as object is a threat wherever it stands.
GROUPS = frozenset(
    """
immigrants migrants refugees foreigners jews muslims christians catholics hindus sikhs atheists gays lesbians
queers trans transgenders blacks whites asians mexicans arabs africans latinos hispanics women men girls boys
infidels liberals conservatives democrats republicans cops police policemen politicians teachers students
hostages kids children babies jew muslim christian
""".split()
)
#: Groups that are everyday photo subjects: outside a sentence start they count only after "all"/"every".
PEOPLE = frozenset("women men girls boys kids children babies students teachers".split())
#: Places whose attack is a threat: "shoot up the school", "bomb the church".
PLACES = frozenset(
    """
school schools church churches mosque mosques synagogue synagogues temple temples office mall building
embassy hospital concert parade stadium station airport campus class classroom club theater theatre
courthouse capitol parliament subway plane restaurant university college
""".split()
)
#: Words that may stand between a verb and its object: "kill all of the", "stab your whole fucking family".
DETERMINERS = frozenset(
    """
all of the every each single last one whole entire fucking little damn those these that this a an some any
""".split()
)
#: Nouns that make the person before them a modifier: "shoot your family portrait" is photography.
MODIFIED = frozenset(
    "portrait portraits photo photos photograph photographs picture pictures pic pics photoshoot video album".split()
)
#: Second person: "you will die", "you are going to be killed".
SECOND = frozenset("you u ya yall".split())
PASSIVE = frozenset(
    """
killed shot murdered stabbed hurt slaughtered executed beheaded lynched raped tortured strangled hanged
bombed butchered
""".split()
)

VOCABULARY = (
    VERBS
    | SPEAKERS
    | SPEAKER_WITH_INTENT
    | FILLERS
    | PRONOUNS
    | POSSESSIVES
    | PERSON_NOUNS
    | GROUPS
    | PLACES
    | DETERMINERS
    | SECOND
    | PASSIVE
    | DROPPED_SPEAKER
    | WISH
    | WISHED
    | _WISH_GLUE
    | frozenset("death die bleed be get let up down open is".split())
)

#: Punctuation that ends a sentence or opens a quote: an imperative may start right after it.
_BREAKS = frozenset('.!?;:"“”«»()[]')
_MAX_FILLERS = 6
#: Words that may open an imperative sentence. Not "and"/"so"/"then": "... a lie and hurt you" is a lyric.
_LEAD_INS = frozenset("just now go please".split())


@dataclass(frozen=True)
class ThreatMatch:
    """A threat; start/end are code-point offsets into the ORIGINAL text (end exclusive), as for word matches."""

    match: str
    start: int
    end: int
    kind: str  # intent | imperative | death_to | second_person
    enforced: bool = True  # False: the VIOLENCE filter is detect-only (or the guardrail is in SHADOW mode), report only


@dataclass(frozen=True)
class _Word:
    reading: str
    start: int  # normalized offsets
    end: int
    sentence_start: bool


def _words(text: str) -> tuple[list[_Word], Normalized]:
    """The text's words, each read as the first spelling the vocabulary knows (so "k1ll" reads "kill"), with
    runs of single letters joined when they spell a known word ("k i l l")."""
    a = analyzed(text)
    s = a.norm.text
    runs: dict[int, list[tuple[int, Token]]] = {}
    for first, last, tok in a.virtual:
        runs.setdefault(first, []).append((last, tok))
    out: list[_Word] = []
    k, prev_end = 0, 0
    while k < len(a.tokens):
        tok, last = a.tokens[k], k
        for end_index, vt in sorted(runs.get(k, ()), key=lambda r: -r[0]):  # longest known run first
            # A contraction is two words ("we're" is not "were"): never glue across an apostrophe.
            if any(c in VOCABULARY for c in vt.candidates) and not any(q in s[vt.start : vt.end] for q in "'’"):
                tok, last = vt, end_index
                break
        reading = next((c for c in tok.candidates if c in VOCABULARY), tok.raw)
        gap = s[prev_end : tok.start]
        out.append(_Word(reading, tok.start, tok.end, not out or any(c in _BREAKS for c in gap)))
        prev_end = tok.end
        k = last + 1
    return out, a.norm


def _object(w: list[_Word], r: int, places: bool, groups_only: bool = False) -> int | None:
    """Index of the last word of a person (or place) object starting at r, or None."""
    end = _object_end(w, r, places, groups_only)
    if end is not None and end + 1 < len(w) and w[end + 1].reading in MODIFIED:
        return None
    return end


def _object_end(w: list[_Word], r: int, places: bool, groups_only: bool) -> int | None:
    n = len(w)
    if r >= n:
        return None
    x = w[r].reading
    if not groups_only and x in PRONOUNS:
        return r + 1 if r + 1 < n and w[r + 1].reading == "all" and x == "them" else r
    if not groups_only and x in POSSESSIVES:
        q = r + 1
        while q < n and q - r <= 3 and w[q].reading in DETERMINERS:
            q += 1
        return q if q < n and w[q].reading in PERSON_NOUNS else None
    q, dets = r, 0
    while q < n and q - r <= 4 and w[q].reading in DETERMINERS:
        q, dets = q + 1, dets + 1
    if q >= n:
        return None
    y = w[q].reading
    if groups_only:  # "saying kill all immigrants"; but "a photographer will shoot the girls" is no threat
        said_all = any(w[k].reading in ("all", "every") for k in range(r, q))
        return q if dets and y in GROUPS and (y not in PEOPLE or said_all) else None
    if y in GROUPS or (dets and (y in PERSON_NOUNS or (places and y in PLACES))):
        return q
    return None


def _verb_object(w: list[_Word], q: int, groups_only: bool = False) -> int | None:
    """Index of the last word of "verb [particle] object" starting at q, or None."""
    n = len(w)
    if q >= n or w[q].reading not in VERBS:
        return None
    verb, r = w[q].reading, q + 1
    particle = r < n and w[r].reading in ("up", "down", "open")
    needs = NEEDS_PARTICLE.get(verb)
    if particle:
        r += 1
    elif needs:  # "blow up", "cut open"
        return None
    if verb == "beat" and not particle:  # "beat you up", "beat him to death"; "beat you at chess" is no threat
        end = _object(w, r, False, groups_only)
        if end is not None and end + 1 < len(w) and w[end + 1].reading == "up":
            return end + 1
        if end is not None and end + 2 < len(w) and (w[end + 1].reading, w[end + 2].reading) == ("to", "death"):
            return end + 2
        return None
    places = verb in PLACE_VERBS and (particle or verb in ("bomb", "nuke", "attack"))
    if verb in PERSON_VERBS or places:
        return _object(w, r, places, groups_only)
    return None


def _wished(w: list[_Word], r: int) -> int | None:
    """Index of the last word of "<person> [would|to|were...] die|dead|killed" starting at r, or None."""
    end = _object(w, r, False)
    if end is None:
        return None
    q = end + 1
    while q < len(w) and q - end <= 2 and w[q].reading in _WISH_GLUE and not w[q].sentence_start:
        q += 1
    return q if q < len(w) and w[q].reading in WISHED and not w[q].sentence_start else None


def _sentence_start(w: list[_Word], p: int) -> bool:
    """Whether w[p] opens a sentence or quote, allowing a few lead-in words ("now kill them", "just shoot him")."""
    q = p
    while q > 0 and not w[q].sentence_start and w[q - 1].reading in _LEAD_INS:
        q -= 1
    return w[q].sentence_start


def find_threats(text: str) -> list[ThreatMatch]:
    """Every threat in `text`, in order of position, overlapping matches merged into the longest."""
    w, norm = _words(text)
    n = len(w)
    sentence = list(itertools.accumulate(int(x.sentence_start) for x in w))  # sentence number of every word
    spans: list[tuple[int, int, str]] = []
    intent_at = -1  # the last word where a speaker stated an intent ("I will find you and kill you")
    for p in range(n):
        x = w[p].reading
        # intent: speaker, intent, verb, object
        dropped = w[p].sentence_start and x in DROPPED_SPEAKER
        if x in SPEAKERS or x in SPEAKER_WITH_INTENT or dropped:
            q, intent, wished = p + 1, x in SPEAKER_WITH_INTENT or dropped, None
            while q < n and q - p <= _MAX_FILLERS and not w[q].sentence_start:
                if w[q].reading in WISH and x in SPEAKERS and (wished := _wished(w, q + 1)) is not None:
                    break
                if w[q].reading not in FILLERS or w[q].reading in VERBS:
                    break
                intent = intent or w[q].reading in INTENT
                q += 1
            if wished is not None:
                spans.append((p, wished, "intent"))
                continue
            if intent:
                intent_at = p
            end = _verb_object(w, q) if intent and q < n and not w[q].sentence_start else None
            if end is not None:
                spans.append((p, end, "intent"))
                continue
        if x == "let" and p + 2 < n and w[p + 1].reading in ("s", "us"):
            end = _verb_object(w, p + 2)
            if end is not None:
                spans.append((p, end, "intent"))
                continue
        # imperative
        if x in VERBS:
            coordinated = (
                p > 0
                and w[p - 1].reading == "and"
                and intent_at >= 0
                and p - intent_at <= 12
                and sentence[intent_at] == sentence[p]
            )
            end = _verb_object(w, p, groups_only=not (_sentence_start(w, p) or coordinated))
            if end is not None:
                spans.append((intent_at, end, "intent") if coordinated else (p, end, "imperative"))
                continue
        # death to ...
        if x == "death" and p + 2 < n and w[p + 1].reading == "to":
            r = p + 2
            if w[r].reading in ("all", "every") and r + 1 < n:
                spans.append((p, r + 1, "death_to"))
                continue
            if w[r].reading == "the":
                r += 1
            if r < n and (w[r].reading in GROUPS or w[r].reading in PRONOUNS or w[r].reading in PERSON_NOUNS):
                spans.append((p, r, "death_to"))
                continue
        # second person: "you will die", "your family is going to be killed"
        subject_end = p if x in SECOND else None
        if x in POSSESSIVES - {"his", "her", "their"} and p + 1 < n:
            r = p + 1
            while r < n and r - p <= 3 and w[r].reading in DETERMINERS:
                r += 1
            subject_end = r if r < n and w[r].reading in PERSON_NOUNS else None
        if subject_end is not None:
            q, intent = subject_end + 1, False
            while q < n and q - subject_end <= _MAX_FILLERS and w[q].reading in FILLERS | {"is", "be", "get"}:
                if w[q].reading in INTENT:
                    intent = True
                if w[q].reading in ("be", "get"):
                    q += 1
                    break
                q += 1
            if (
                intent
                and q < n
                and (
                    w[q].reading in ("die", "bleed")
                    and w[q - 1].reading not in ("be", "get")
                    or w[q].reading in PASSIVE
                    and w[q - 1].reading in ("be", "get")
                )
            ):
                spans.append((p, q, "second_person"))
    merged: list[tuple[int, int, str]] = []
    for a, b, kind in sorted(spans, key=lambda s: (s[0], -s[1])):
        if merged and a <= merged[-1][1]:
            if b > merged[-1][1]:
                merged[-1] = (merged[-1][0], b, merged[-1][2])
            continue
        merged.append((a, b, kind))
    out = []
    for a, b, kind in merged:
        start, end = norm.original_span(w[a].start, w[b].end)
        out.append(ThreatMatch(text[start:end], start, end, kind))
    return out
