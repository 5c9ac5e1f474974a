"""Rebuilds the committed text-moderation data (homoglyph map, managed profanity list) from ../shared/data.

Run: `python -m safegen.training.text.build_data [--shared PATH]`. The output is deterministic, so a rebuild that
changes a committed file shows up in `git diff`. Sources and licenses are written next to the data in
data/SOURCES.md; the curation choices (which words are dropped and why) live in this file, in one place.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import unicodedata
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "text" / "data"  # the committed runtime data it rebuilds
DEFAULT_SHARED = Path(__file__).resolve().parents[4] / ".." / "shared" / "data"

# --- homoglyphs -------------------------------------------------------------------------------------

_ASCII_ALNUM = set("abcdefghijklmnopqrstuvwxyz0123456789")


def build_confusables(confusables_txt: Path) -> dict[str, str]:
    """The Latin-lookalike subset of Unicode's confusables.txt (UTS #39), keyed by the character as our
    normalizer sees it (NFKC, then casefold) and mapped to one ASCII letter or digit.

    Only single code points that are not ASCII and that NFKC does not already turn into the same ASCII
    character are kept: NFKC handles fullwidth and mathematical letters, leetspeak handles ASCII digits
    and symbols, so this map only has to cover the scripts NFKC leaves alone (Cyrillic, Greek, Cherokee...).
    """
    mapping: dict[str, str] = {}
    for line in confusables_txt.read_text(encoding="utf-8-sig").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p.strip() for p in line.split(";")]
        if len(parts) < 2:
            continue
        src_cps, tgt_cps = parts[0].split(), parts[1].split()
        if len(src_cps) != 1:
            continue
        src = chr(int(src_cps[0], 16))
        tgt = "".join(chr(int(c, 16)) for c in tgt_cps)
        key = unicodedata.normalize("NFKC", src).casefold()
        val = unicodedata.normalize("NFKC", tgt).casefold()
        if len(key) != 1 or key.isascii() or len(val) != 1 or val not in _ASCII_ALNUM:
            continue
        # Prefer a letter target over a digit one when two lines disagree (e.g. a glyph like O/0).
        if key in mapping and mapping[key].isalpha():
            continue
        mapping[key] = val
    return dict(sorted(mapping.items()))


# --- managed profanity list ----------------------------------------------------------------------------

# Words the sources list that have a common innocent reading in image prompts or everyday English, so a
# word list (which blocks on the word alone) must not carry them; the classifier judges them in context.
# Grouped by why. Decision on "nude": a colour ("nude lipstick") and a fine-art genre, so it stays out.
EXCLUDE = {
    # colours, fashion, art, photography and film vocabulary
    "nude", "nudes", "nudity", "naked", "barenaked", "topless", "erotic", "erotism", "sexy", "sultry women",
    "busty", "lingerie", "panties", "panty", "pantie", "undies", "hardcore", "hard core", "playboy", "vixen",
    "racy", "steamy", "strip", "escort", "hooters", "hooter", "seaman", "seamen", "revue", "maxi", "toots",
    "pasty", "pastie", "woody", "sandbar", "flange", "finger", "fingering", "wad", "knob", "meat", "booty",
    "bang", "spank", "loose", "wound", "slit", "nymph", "tart", "tramp", "swine", "monkey", "ape", "crow",
    "garbage bag", "buttermilk", "bum", "bung", "muff", "cowgirl", "cowgirls", "domination", "bondage",
    "leather restraint", "tied up", "voyeur", "tight white", "huge fat", "big black", "hot chick", "girl on",
    "girl on top", "blonde action", "brunette action", "taste my", "tongue in a", "tainted love",
    "jelly donut", "pleasure chest", "dirty pillows", "chocolate rosebuds", "mound of venus", "venus mound",
    "lolita", "kinky", "shibari", "shibary", "kinbaku", "yaoi", "hentai", "ecchi", "nsfw", "nsfw images",
    "xx", "69", "bastard", "bastardo", "bastinado", "chink", "coon", "coons", "cock", "cocks", "dick",
    "dicks", "tit", "tits", "titt", "titi", "pussy willow", "horny", "horniest", "cum", "cums", "cumming",
    "big breasts", "big tits", "giant cock", "black cock", "mams", "dong", "wang", "willy", "willies",
    "weenie", "weiner", "wiener", "pecker", "prick", "pricks", "hoe", "hoer", "ho", "hoar", "hoare", "hore",
    "snatch", "fanny", "spook", "bender", "flamer", "diddle", "dipstick", "bugger", "bonk", "coot",
    "cooties", "ramrod", "throater", "double pen", "nut butter", "nutbutter", "punta", "scat", "slope",
    "bimbo", "bimbos", "babes", "dolcett", "guro", "pegging", "upskirt", "snowballing", "shrimping",
    "tosser", "tossing salad", "sadism", "sadist", "masochist", "dominatrix", "femdom", "dommes",
    "swinger", "threesome", "strip club", "stripclub", "vibrator", "lovemaking", "violet wand",
    "girls gone wild", "menage a trois", "missionary position", "reverse cowgirl", "doggy style",
    "doggystyle", "doggie style", "doggiestyle", "dog style", "style doggy", "spread legs",
    "prince albert piercing", "birdlock", "goregasm",
    # anatomy, medicine and bodily functions: art, medical and anatomy prompts use them
    "organ", "ovary", "ovum", "ovums", "womb", "uterus", "glans", "labia", "testes", "testis", "teste",
    "testee", "testicle", "testicles", "testical", "hymen", "loin", "loins", "breast", "breasts", "nipple",
    "nipples", "crotch", "rectum", "rectus", "rectal", "anus", "genitals", "vulva", "vagina", "penis",
    "penile", "penial", "scrotum", "pubic", "pubis", "pubes", "pube", "foreskin", "phallic", "phalli",
    "sperm", "semen", "menses", "menstruate", "menstruation", "tampon", "urine", "urinal", "pee", "peepee",
    "poop", "potty", "tinkle", "fart", "turd", "vomit", "butt", "tush", "tushy", "rump", "sphincter",
    "clit", "clitoris", "anal", "boner", "erect", "erection", "enlargement", "ejaculate", "ejaculation",
    "eunuch", "intercourse", "sexual", "sexually", "sexuality", "sex", "sexo", "oral", "orally",
    "penetrate", "penetration", "virgin", "lust", "lusting", "lusty", "seduce", "thrust", "stroke",
    "screw", "screwed", "screwing", "suck", "sucks", "sucked", "sucking", "hump", "humped", "humping",
    "grope", "fondle", "orgasm", "orgasms", "orgasmic", "masturbate", "masturbating", "masturbation",
    "incest", "orgy", "orgies", "transsexual", "transvestite",
    # identity terms: naming a group is not profanity (the HATE classifier judges how it is used)
    "gay", "gays", "gai", "gae", "gey", "ghay", "ghey", "lesbian", "lesbians", "lesbo", "lesbos", "lez",
    "homosexual", "queer", "queers", "jew", "gypsy", "negro", "aryan", "arian", "injun", "paki", "jap",
    "japs", "hebe", "kraut", "guido", "gringo", "polack", "pollock", "paddy", "ruski", "redskin", "homo",
    "dyke", "dykes", "ladyboy", "twink", "twinkie", "mong", "mongoloid", "inbred", "leper", "schizo",
    "spastic", "hitler", "nazi", "nazism", "neonazi", "reich", "swastika", "kkk", "klan", "white power",
    "slave", "massa", "coolie", "greaser", "cholo", "sambo", "shylock", "abraham", "abbie", "abo",
    "blacky", "mongrel", "honkey", "honky", "whitey", "dago",
    # drugs, alcohol, weapons, violence, crime: the MISCONDUCT and VIOLENCE classifiers judge context
    "drunk", "rum", "vodka", "weed", "hemp", "pot", "reefer", "ganja", "heroin", "meth", "pcp", "opium",
    "opiate", "peyote", "valium", "extacy", "extasy", "hooch", "hootch", "hookah", "toke", "stoned",
    "junkie", "junky", "scag", "skag", "souse", "soused", "kill", "murder", "how to kill", "how to murder",
    "howtokill", "howtomurdep", "sniper", "uzi", "napalm", "snuff", "rape", "raped", "raper", "raping",
    "rapist", "date rape", "daterape", "molest", "pedophile", "pedophilia", "pedophiliac", "paedophile",
    "pedo", "jailbait", "jail bait", "pimp", "prostitute", "hooker", "hustler", "thug", "cialis",
    "viagra", "vigra",
    # everyday words and mild insults that are ordinary in prompts
    "god", "hell", "damn", "god damn", "crap", "fat", "ugly", "stupid", "dummy", "dopey", "doofus", "jerk",
    "jerked", "moron", "nimrod", "ninny", "weirdo", "idiot", "dolt", "scum", "trashy", "tawdry", "sleaze",
    "sleazy", "vulgar", "punky", "pinko", "prig", "prude", "sissy", "wench", "hussy", "floozy", "unwed",
    "omg", "lmao", "lmfao", "wtf", "stfu", "gtfo", "foad", "foobar", "fubar", "pms", "hiv", "herp",
    "herpes", "herpy", "len", "nad", "nads", "nob", "puss", "teat", "teez", "teets", "kooch", "lech",
    "lube", "smut", "smutty", "raunch", "scut", "heshe", "hemp", "kondum", "kondums", "nooky", "quicky",
    "tard", "reetard", "ritard", "rtard", "retard", "retarded", "crow", "jim crow", "gin jockey",
    "palm jockey", "pancake face", "mushroom tip", "meat curtains", "santorum", "lemon party", "hot carl",
    "tub girl", "suicide girls", "babeland", "bangbus", "bangbros", "thumbzilla", "voyeurweb", "voyuer",
    "worldsex", "livesex", "sexcam", "camgirl", "nonce", "choad", "chocha", "gowl", "tadger", "punky",
    "wop", "gook", "spook", "beaner", "beaners", "pikey", "cotton picker", "porch monkey", "oven dodger",
    "kidtoucher", "china virus", "tar-baby", "dune coon", "camel jockey", "booty call", "pole smoker",
    "kinkster", "ponyplay", "figging", "nawashi", "omorashi", "frotting", "strappado", "clover clamps",
    "bullet vibe", "beaver lips", "beaver cleaver", "shaved beaver", "fisted", "fisty", "stiffy", "sodom",
    "tea bagging", "teabagging", "juggs", "knockers", "big knockers", "trouser snake", "trousersnake",
    "harry palms", "girly bits", "girlyboy", "funbags", "man seed", "man chowder", "throat yogurt",
    "spunk", "skeet", "queaf", "nympho", "nymphomania", "nimphomania", "eat my ass", "blue waffle",
    "pissed", "pisser", "pissers", "pisses", "taking the piss", "pissoff", "pissin", "bellend", "bollocks",
    "loose", "jiz", "booobs", "boooobs", "booooobs", "booooooobs", "sob", "seduce",
    # second pass over the generated list: innocent readings (chess, carpets, horses, birds, names...)
    "nip", "gyp", "pawn", "knickers", "facial", "scantily", "nappy", "whiz", "wedgie", "wazoo", "shag",
    "spooks", "jigger", "poof", "yury", "homey", "jackass", "gonad", "gonads", "niggle", "perversion",
    "undressing", "nicker", "spig", "spix", "spick", "bj", "bater", "gigolo", "douche", "hoes", "doggin",
    "dogging", "rosy palm", "wet back", "strap on", "make me come", "scissoring", "areole", "brown shower",
    "wrapping men", "slag", "nig", "spac", "fick", "woose", "muther", "dink", "dinks", "pussie",
}
# Leet/mask characters: a Surge AI entry spelled with them is an obfuscated variant, not a canonical word.
# Leet/mask characters: a source entry spelled with them is an obfuscated variant, not a canonical word.
_OBFUSCATED = re.compile(r"[0-9@$*!|+€£¥]")

# Stems that are profanity wherever they stand at the start (prefix) or end (suffix) of a token, so
# compounds like "fuckface" or "bullshit" match without listing every compound. Only stems with no
# innocent English word starting/ending with them are here ("ass" is not: class, assassin; "cock" is
# not: cocktail, peacock; "nigga" is not: niggardly; "wank" is prefix only: swank).
# Not "shit" or "fuk" as prefixes: Japanese romaji in prompts starts words with them ("tensei shitara
# slime", "Fukuoka"); the listed shit-/fuk- compounds still match as words.
PREFIX_STEMS = ["fuck", "fcuk", "motherfuck", "mothafuck", "cunt", "bitch", "whore", "slut",
                "twat", "wank", "jizz", "dildo", "nigger", "faggot", "cocksuck", "dickhead", "asshole",
                "pussies", "tittyfuck", "titfuck"]
SUFFIX_STEMS = ["fuck", "fucker", "fucking", "fucked", "fucks", "shit", "shits", "shitter", "cunt", "cunts",
                "bitch", "bitches", "whore", "whores", "slut", "sluts", "faggot", "asshole", "assholes",
                "motherfucker", "cocksucker", "dickhead"]
# Innocent words that a stem would otherwise catch (checked by tests against COCO captions too).
STEM_EXCEPTIONS = ["shitake", "shitakes", "shittim", "cunted"]


def _norm_entry(w: str) -> str:
    return " ".join(w.strip().lower().split())


def build_managed(shared: Path) -> tuple[list[str], dict[str, int]]:
    """Union of LDNOOBW en, better_profanity's word list and Surge AI's non-obfuscated entries rated
    Strong or Severe (mean rating >= 1.5), minus EXCLUDE; returns (words, per-source entry counts)."""
    counts: dict[str, int] = {}
    words: set[str] = set()

    def add(source: str, w: str) -> None:
        w = _norm_entry(w)
        if not w or not any(ch.isalpha() for ch in w):
            return
        words.add(w)
        counts[source] = counts.get(source, 0) + 1

    for w in (shared / "ldnoobw" / "en").read_text(encoding="utf-8").splitlines():
        add("ldnoobw/en", w)
    for w in (shared / "better_profanity" / "profanity_wordlist.txt").read_text(encoding="utf-8").splitlines():
        add("better_profanity", w)
    test_set: set[str] = set()
    with open(shared / "surge_profanity" / "profanity_en.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            # Obfuscated spellings (digits, @, $, *) are the test set for the normalizer, never list
            # entries, whichever list also carries them (better_profanity has "l3itch").
            if _OBFUSCATED.search(row["text"]):
                test_set.add(_norm_entry(row["text"]))
            elif float(row["severity_rating"]) >= 1.5:
                add("surge_profanity", row["text"])
    return sorted(w for w in words if w not in EXCLUDE and w not in test_set), counts


def write_all(shared: Path) -> None:
    conf = build_confusables(shared / "unicode_confusables" / "confusables.txt")
    (DATA_DIR / "confusables_latin.json").write_text(
        json.dumps(conf, ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    words, counts = build_managed(shared)
    header = ("# safegen managed profanity list (WORD_LIST_MANAGED_PROFANITY). Generated by\n"
              "# `python -m safegen.training.text.build_data`; do not edit by hand (edit EXCLUDE there).\n"
              "# Sources and licenses: SOURCES.md beside this file. One entry per line; multi-word phrases allowed.\n")
    (DATA_DIR / "managed_profanity.txt").write_text(header + "\n".join(words) + "\n", encoding="utf-8")
    stems = {"prefix": sorted(PREFIX_STEMS), "suffix": sorted(SUFFIX_STEMS), "exceptions": sorted(STEM_EXCEPTIONS)}
    (DATA_DIR / "managed_stems.json").write_text(json.dumps(stems, indent=1) + "\n", encoding="utf-8")
    print(f"confusables: {len(conf)} Latin-lookalike code points; managed list: {len(words)} entries "
          f"(source entries seen: {counts})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="path to shared/data")
    args = ap.parse_args(argv)
    if not args.shared.is_dir():
        print(f"{args.shared} not found; pass --shared PATH/TO/shared/data", file=sys.stderr)
        return 2
    write_all(args.shared)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
