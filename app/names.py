"""Names as people read them: the folded form that models, datasets, users and experiments are
unique by (case, Unicode compatibility forms and surrounding spaces do not make a new name)."""

import unicodedata


def fold_name(name: str) -> str:
    """`name` in NFKC, case-folded, without surrounding white space of any kind.

    NFKC maps compatibility characters (full-width letters, ligatures, U+00A0 and the other
    fixed-width spaces) to their plain form; case folding can leave text that is no longer
    normalized, so NFKC runs again after it (Unicode's NFKC_Casefold, Unicode 15 section 3.13).
    `str.strip` drops every Unicode white space character, U+00A0 and U+3000 included."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold()).strip()


# A folded name is stored and indexed: this keeps it within what a Postgres B-tree entry holds
# (about 2,700 bytes), since NFKC can spell one character as up to 18.
MAX_FOLDED_NAME_BYTES = 2048


def folded_name_problem(name: str) -> str | None:
    """Why `name` cannot be a name as people read it (nothing but spaces, or too long once
    folded), or None."""
    folded = fold_name(name)
    if not folded:
        return "is blank once surrounding spaces are removed"
    if len(folded.encode()) > MAX_FOLDED_NAME_BYTES:
        return f"is longer than {MAX_FOLDED_NAME_BYTES} bytes once normalized (NFKC, case-folded)"
    return None
