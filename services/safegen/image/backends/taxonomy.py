"""Amazon Rekognition's content moderation taxonomy (model version 7) and its mapping to safegen categories.

Names are Rekognition's own, so a client written against DetectModerationLabels reads our labels
unchanged. Level-1 labels map to one safegen category; deeper labels inherit their root's category.
"""

from __future__ import annotations

from safegen.core.types import Category

# name -> parent name ("" for level 1). Rekognition v7 (DetectModerationLabels, ModerationModelVersion "7.0").
PARENT: dict[str, str] = {
    "Explicit": "",
    "Explicit Nudity": "Explicit",
    "Exposed Male Genitalia": "Explicit Nudity",
    "Exposed Female Genitalia": "Explicit Nudity",
    "Exposed Buttocks or Anus": "Explicit Nudity",
    "Exposed Female Nipple": "Explicit Nudity",
    "Explicit Sexual Activity": "Explicit",
    "Sex Toys": "Explicit",
    "Non-Explicit Nudity of Intimate parts and Kissing": "",
    "Non-Explicit Nudity": "Non-Explicit Nudity of Intimate parts and Kissing",
    "Bare Back": "Non-Explicit Nudity",
    "Exposed Male Nipple": "Non-Explicit Nudity",
    "Partially Exposed Buttocks": "Non-Explicit Nudity",
    "Partially Exposed Female Breast": "Non-Explicit Nudity",
    "Implied Nudity": "Non-Explicit Nudity",
    "Obstructed Intimate Parts": "Non-Explicit Nudity of Intimate parts and Kissing",
    "Obstructed Female Nipple": "Obstructed Intimate Parts",
    "Obstructed Male Genitalia": "Obstructed Intimate Parts",
    "Kissing on the Lips": "Non-Explicit Nudity of Intimate parts and Kissing",
    "Swimwear or Underwear": "",
    "Female Swimwear or Underwear": "Swimwear or Underwear",
    "Male Swimwear or Underwear": "Swimwear or Underwear",
    "Violence": "",
    "Weapons": "Violence",
    "Graphic Violence": "Violence",
    "Weapon Violence": "Graphic Violence",
    "Physical Violence": "Graphic Violence",
    "Self-Harm": "Graphic Violence",
    "Blood & Gore": "Graphic Violence",
    "Explosions and Blasts": "Graphic Violence",
    "Visually Disturbing": "",
    "Death and Emaciation": "Visually Disturbing",
    "Emaciated Bodies": "Death and Emaciation",
    "Corpses": "Death and Emaciation",
    "Crashes": "Visually Disturbing",
    "Air Crash": "Crashes",
    "Drugs & Tobacco": "",
    "Products": "Drugs & Tobacco",
    "Pills": "Products",
    "Drugs & Tobacco Paraphernalia & Use": "Drugs & Tobacco",
    "Smoking": "Drugs & Tobacco Paraphernalia & Use",
    "Alcohol": "",
    "Alcohol Use": "Alcohol",
    "Drinking": "Alcohol Use",
    "Alcoholic Beverages": "Alcohol",
    "Rude Gestures": "",
    "Middle Finger": "Rude Gestures",
    "Gambling": "",
    "Hate Symbols": "",
    "Nazi Party": "Hate Symbols",
    "White Supremacy": "Hate Symbols",
    "Extremist": "Hate Symbols",
}

#: Level-1 label -> the safegen category it counts towards.
ROOT_CATEGORY: dict[str, Category] = {
    "Explicit": Category.SEXUAL,
    "Non-Explicit Nudity of Intimate parts and Kissing": Category.SEXUAL,
    "Swimwear or Underwear": Category.SEXUAL,
    "Violence": Category.VIOLENCE,
    "Visually Disturbing": Category.VIOLENCE,
    "Drugs & Tobacco": Category.MISCONDUCT,
    "Alcohol": Category.MISCONDUCT,
    "Gambling": Category.MISCONDUCT,
    "Rude Gestures": Category.INSULTS,
    "Hate Symbols": Category.HATE,
}

#: How strongly a label's confidence counts as evidence for its category. Rekognition returns
#: swimwear, kissing and bare backs at high confidence on ordinary photos; counting them fully
#: would blur every beach picture, so they are reported but capped below the LOW threshold.
WEIGHT: dict[str, float] = {
    "Swimwear or Underwear": 0.0,
    "Female Swimwear or Underwear": 0.0,
    "Male Swimwear or Underwear": 0.0,
    "Kissing on the Lips": 0.0,
    "Bare Back": 0.0,
    "Exposed Male Nipple": 0.0,
    "Alcohol": 0.0,
    "Alcohol Use": 0.0,
    "Drinking": 0.0,
    "Alcoholic Beverages": 0.0,
    "Gambling": 0.0,
}


def root_of(name: str, parent: str = "") -> str:
    """The level-1 ancestor of a label (unknown labels are their own root, or their parent's)."""
    seen = 0
    cur = name if name in PARENT else (parent or name)
    while PARENT.get(cur) and seen < 5:
        cur = PARENT[cur]
        seen += 1
    return cur


def level_of(name: str) -> int:
    level, cur = 1, name
    while PARENT.get(cur):
        level += 1
        cur = PARENT[cur]
    return level


def category_of(name: str, parent: str = "") -> Category | None:
    """The safegen category a Rekognition label counts towards; None for labels outside the taxonomy."""
    return ROOT_CATEGORY.get(root_of(name, parent))


def weight_of(name: str) -> float:
    return WEIGHT.get(name, 1.0)
