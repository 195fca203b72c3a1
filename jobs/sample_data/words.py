"""Word lists the sample generator builds titles, tags and descriptions from."""

from __future__ import annotations

# Genres the generator assigns, with how common each is (roughly MovieLens' shares).
GENRE_WEIGHTS: dict[str, float] = {
    "Drama": 0.20,
    "Comedy": 0.15,
    "Thriller": 0.08,
    "Action": 0.08,
    "Romance": 0.07,
    "Adventure": 0.05,
    "Crime": 0.05,
    "Horror": 0.05,
    "Sci-Fi": 0.04,
    "Fantasy": 0.03,
    "Children": 0.03,
    "Mystery": 0.03,
    "Documentary": 0.03,
    "Animation": 0.025,
    "War": 0.02,
    "Musical": 0.015,
    "Western": 0.01,
    "Film-Noir": 0.005,
    "IMAX": 0.005,
}

# Theme words per genre: items draw theirs from their genres, so tags and descriptions
# carry the genre signal that text embeddings should pick up.
THEMES: dict[str, tuple[str, ...]] = {
    "Drama": (
        "family",
        "grief",
        "ambition",
        "redemption",
        "small town",
        "inheritance",
        "illness",
        "friendship",
    ),
    "Comedy": (
        "mistaken identity",
        "road trip",
        "wedding",
        "office life",
        "slapstick",
        "satire",
        "roommates",
    ),
    "Thriller": (
        "conspiracy",
        "kidnapping",
        "stalker",
        "double cross",
        "hostage",
        "surveillance",
        "blackmail",
    ),
    "Action": ("car chase", "martial arts", "heist", "explosions", "mercenaries", "revenge", "bodyguard"),
    "Romance": (
        "first love",
        "long distance",
        "second chances",
        "summer romance",
        "love triangle",
        "reunion",
    ),
    "Adventure": ("treasure hunt", "jungle", "expedition", "shipwreck", "lost city", "quest", "mountains"),
    "Crime": ("mafia", "detective", "bank robbery", "corruption", "drug cartel", "undercover cop", "prison"),
    "Horror": (
        "haunted house",
        "zombies",
        "possession",
        "slasher",
        "curse",
        "vampires",
        "cabin in the woods",
    ),
    "Sci-Fi": (
        "space travel",
        "time travel",
        "robots",
        "aliens",
        "dystopia",
        "artificial intelligence",
        "clones",
    ),
    "Fantasy": ("dragons", "wizards", "enchanted forest", "prophecy", "fairy tale", "magic sword", "elves"),
    "Children": ("talking animals", "school", "puppies", "toys", "summer camp", "growing up", "best friends"),
    "Mystery": ("whodunit", "amnesia", "secret society", "missing person", "locked room", "hidden letters"),
    "Documentary": ("nature", "music history", "politics", "sports", "oceans", "true story", "climate"),
    "Animation": ("hand-drawn", "stop motion", "talking cars", "underwater kingdom", "musical numbers"),
    "War": ("world war ii", "resistance", "submarine", "soldiers", "battlefield", "prisoners of war"),
    "Musical": ("broadway", "dance contest", "rock band", "opera", "singing competition", "jazz"),
    "Western": ("outlaws", "gold rush", "frontier town", "bounty hunter", "cattle drive", "sheriff"),
    "Film-Noir": ("femme fatale", "private eye", "rainy city", "double indemnity", "nightclub"),
    "IMAX": ("spectacle", "mountain climbing", "space station", "coral reefs", "wildlife"),
}
GENERIC_THEMES = ("secrets", "journey", "betrayal", "hope", "loneliness", "trust")

# Tags users add besides theme words; a couple contain commas so CSV quoting is exercised.
GENERIC_TAGS = (
    "classic",
    "atmospheric",
    "twist ending",
    "visually appealing",
    "based on a book",
    "great soundtrack",
    "overrated",
    "slow, but worth it",
    "dark, gritty",
    "quotable",
    "feel-good",
    "cult film",
)

TONES = (
    "gripping",
    "gentle",
    "bittersweet",
    "witty",
    "haunting",
    "sprawling",
    "tense",
    "warm-hearted",
    "offbeat",
)

# Title material. A few non-ASCII words make sure encodings are handled end to end.
ADJECTIVES = (
    "Silent", "Crimson", "Broken", "Golden", "Hidden", "Last", "Lonely", "Midnight", "Northern", "Wild",
    "Burning", "Frozen", "Electric", "Forgotten", "Distant", "Velvet", "Iron", "Paper", "Secret", "Sweet",
    "Dark", "Bright", "Endless", "Little", "Final", "Lost", "Hollow", "Savage", "Gentle", "Restless",
    "Scarlet", "Silver", "Crooked", "Quiet", "Wicked", "Brave", "Strange", "Sleeping", "Falling", "Rising",
    "Shattered", "Painted", "Howling", "Whispering", "Runaway", "Borrowed", "Stolen", "Bitter", "Lucky",
    "Emerald", "Amber", "Copper", "Glass", "Stone", "Neon", "Crystal", "Phantom", "Radiant", "Rusty",
    "Café", "Señor", "Naïve", "Déjà Vu",
)  # fmt: skip
NOUNS = (
    "River", "Garden", "Harbor", "Empire", "Station", "Kingdom", "Promise", "Letter", "Mirror", "Island",
    "Horizon", "Voyage", "Frontier", "Legacy", "Shadow", "Signal", "Orchard", "Bridge", "Lantern", "Machine",
    "Circus", "Hotel", "Castle", "Desert", "Valley", "Summer", "Winter", "Storm", "Engine", "Theory",
    "Alibi", "Diary", "Compass", "Carnival", "Tide", "Forest", "Planet", "Symphony", "Ballad", "Crossing",
    "Highway", "Cathedral", "Lighthouse", "Market", "Museum", "Orbit", "Parade", "Quarry", "Railway", "Saloon",
    "Temple", "Tower", "Vault", "Village", "Window", "Witness", "Verdict", "Rebellion", "Heist", "Requiem",
    "Reunion", "Escape", "Fortune", "Gambit", "Hunter", "Journey", "Miracle", "Outpost", "Pilgrim", "Riddle",
)  # fmt: skip
NAMES = (
    "Anna", "Max", "Lola", "Victor", "Rosa", "Felix", "Nina", "Oscar", "Clara", "Hugo", "Iris", "Leo",
    "Mara", "Otto", "Ruth", "Samuel", "Vera", "Walter", "Zoë", "Amélie", "Noël", "José", "Björn", "Chloé",
)  # fmt: skip

# ml-100k's occupation names, reused for sample users.
OCCUPATIONS = (
    "administrator", "artist", "doctor", "educator", "engineer", "entertainment", "executive",
    "healthcare", "homemaker", "lawyer", "librarian", "marketing", "none", "other", "programmer",
    "retired", "salesman", "scientist", "student", "technician", "writer",
)  # fmt: skip
