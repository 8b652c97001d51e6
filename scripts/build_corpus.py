#!/usr/bin/env python3
"""Build the reproducible training corpus of the default 44.1 kHz codec from Debian packages.

Usage: build_corpus.py [--out DIR] [--jobs N] [--nice N] [--only SOURCE ...] [--dry-run]

Design decisions (docs/corpus.md has the user-facing story):

* Sources are Debian packages named here and nowhere else, so any machine that reaches Debian's
  archive rebuilds the same corpus.  Audio from every other package is reserved for independent
  evaluation; adding a package here moves it out of that reserve and must be a deliberate edit.
* One FLAC per source clip, at the source's native sample rate and channel count: the trainer
  resamples once, to whatever rate it wants, instead of us resampling twice.  Lossy and 16-bit
  sources are written as 16-bit PCM; 24-bit and float sources as 24-bit.  A decode that overshoots
  full scale (Vorbis, Opus, fluidsynth) is scaled down to peak 1.0 rather than clipped.
* Deduplication hashes the exact PCM that is (or would be) written, together with rate and
  channel count, so "identical" means bit-identical audio whatever the container was.  Symlinked
  paths and byte-identical MIDI lumps are dropped earlier, at planning time, to save the work.
* The train/val split hashes each clip's *group* (its original source: one file, one MIDI lump,
  one batch of synthesised sentences), so the split is stable across machines and reruns and all
  renditions of one source land on the same side.
* Only the main process decides and writes: workers decode or render, the main process takes
  their results in the fixed job order, deduplicates, writes atomically and journals.  The output
  is therefore identical for any --jobs, and a lock file keeps a second build off the same --out.
* manifest.jsonl journals every decided source (written, duplicate, short, silent); a rerun skips
  them, and an output file that exists without a journal line is read back rather than re-made.
* Decoding uses libsndfile (soundfile) for Ogg Vorbis/Opus, WAV and FLAC, and ffmpeg only for the
  raw G.722 prompts that libsndfile cannot read; fluidsynth renders MIDI, espeak-ng and festival
  synthesise speech.  Freedoom 0.12 stores all its music as MIDI, so MUS lumps are counted and
  reported as skipped instead of carrying a MUS converter that would never run.
"""
from __future__ import annotations

import argparse
import collections
import fcntl
import hashlib
import io
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import soundfile as sf

DOMAINS = ("speech", "music", "general")
RECORDED_SOURCES: dict[str, tuple[str, ...]] = {
    "speech": (
        "klettres-data", "ktuberling-data", "festvox-ru",
        "asterisk-core-sounds-en-g722", "asterisk-core-sounds-es-g722",
        "asterisk-core-sounds-fr-g722", "asterisk-core-sounds-it-g722",
        "asterisk-core-sounds-ru-g722",
    ),
    "music": (
        "warzone2100-music", "wesnoth-1.16-music", "singularity-music", "ufoai-music",
        "openttd-openmsx", "freedoom",
    ),
    "general": (
        "ufoai-sound", "sonic-pi-samples", "wordwarvi-sound", "lomiri-sounds", "oxygen-sounds",
        "sound-theme-freedesktop", "yaru-theme-sound",
    ),
}
RECORDED_PACKAGES = tuple(package for packages in RECORDED_SOURCES.values() for package in packages)
ESPEAK, FESTIVAL = "espeak-ng", "festival"
SYNTH_PACKAGES = (ESPEAK, FESTIVAL, "festvox-kallpc16k", "festvox-us-slt-hts")
TOOL_PACKAGES = ("ffmpeg", "fluidsynth", "fluid-soundfont-gm")
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")

SOUNDFILE_EXTENSIONS = frozenset({".ogg", ".oga", ".opus", ".wav", ".flac"})
G722_RATE = 16_000  # G.722 is defined at 16 kHz; the raw files carry no header to say so
MIN_SECONDS = 0.5
VAL_PER_MILLE = 50  # about 5 % of groups go to val
HIGH_RESOLUTION_SUBTYPES = frozenset({"PCM_24", "PCM_32", "FLOAT", "DOUBLE"})
PROGRESS_EVERY_SECONDS = 60.0


class CorpusError(ValueError):
    """A one-line, user-facing reason why the corpus cannot be built as asked."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------------------------
# Jobs: one per output clip
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Job:
    """One source clip to turn into one FLAC.  `args` are the `kind`'s producer arguments."""

    source: str  # stable identity, also the manifest key
    group: str   # original source: decides the split
    package: str
    domain: str
    name: str    # output file stem, unique within the package
    kind: str
    args: tuple

    @property
    def split(self) -> str:
        digest = hashlib.sha256(self.group.encode()).digest()
        return "val" if int.from_bytes(digest[:4], "big") % 1000 < VAL_PER_MILLE else "train"

    @property
    def relative_output(self) -> str:
        return f"{self.split}/{self.domain}/{self.package}/{self.name}.flac"


def package_files(package: str) -> list[Path]:
    """Regular files (symlinks resolved, each once) that dpkg says `package` installed."""
    listing = run_text(["dpkg", "-L", package])
    real = {Path(os.path.realpath(line)) for line in listing.splitlines() if line.startswith("/")}
    return sorted(path for path in real if path.is_file())


def name_for(path: str) -> str:
    """A flat, readable output stem: path below /usr/share, '/' -> '__', extension kept."""
    relative = path.removeprefix("/usr/share/").lstrip("/")
    stem, dot, extension = relative.rpartition(".")
    flat = f"{stem}_{extension}" if dot and "/" not in extension else relative
    return flat.replace("/", "__")


@dataclass
class PlanNotes:
    """What planning dropped on purpose, reported with the statistics."""

    mus_lumps_skipped: int = 0
    duplicate_midi: int = 0


def plan_recorded(package: str, domain: str, notes: PlanNotes, midi_seen: set[str]) -> list[Job]:
    """Jobs for every audio file, zip member and WAD music lump that `package` installed."""
    jobs = []
    for path in package_files(package):
        extension = path.suffix.lower()
        source = f"{package}:{path}"
        if extension in SOUNDFILE_EXTENSIONS:
            jobs.append(Job(source, source, package, domain, name_for(str(path)), "file", (str(path),)))
        elif extension == ".g722":
            jobs.append(Job(source, source, package, domain, name_for(str(path)), "g722", (str(path),)))
        elif extension in (".mid", ".midi"):
            if first_midi(path.read_bytes(), notes, midi_seen):
                jobs.append(Job(source, source, package, domain, name_for(str(path)), "midi",
                                (str(path),)))
        elif extension == ".pk3":
            jobs.extend(plan_zip(path, package, domain))
        elif extension == ".wad":
            jobs.extend(plan_wad(path, package, domain, notes, midi_seen))
    return jobs


def first_midi(data: bytes, notes: PlanNotes, midi_seen: set[str]) -> bool:
    """True the first time these MIDI bytes are planned; later copies are counted, not rendered."""
    digest = hashlib.sha256(data).hexdigest()
    if digest in midi_seen:
        notes.duplicate_midi += 1
        return False
    midi_seen.add(digest)
    return True


def plan_zip(path: Path, package: str, domain: str) -> list[Job]:
    with zipfile.ZipFile(path) as archive:
        members = sorted(m for m in archive.namelist()
                         if Path(m).suffix.lower() in SOUNDFILE_EXTENSIONS)
    jobs = []
    for member in members:
        source = f"{package}:{path}::{member}"
        name = f"{name_for(str(path))}__{name_for(member)}"
        jobs.append(Job(source, source, package, domain, name, "zip", (str(path), member)))
    return jobs


def wad_lumps(path: Path) -> Iterator[tuple[str, int, int]]:
    """(name, offset, size) of every lump, read from the WAD directory at the file's header."""
    with open(path, "rb") as wad:
        header = wad.read(12)
        if len(header) < 12 or header[:4] not in (b"IWAD", b"PWAD"):
            raise CorpusError(f"{path}: not a WAD file")
        count, directory = struct.unpack("<ii", header[4:])
        wad.seek(directory)
        table = wad.read(16 * count)
    for index in range(count):
        offset, size, raw_name = struct.unpack_from("<ii8s", table, 16 * index)
        yield raw_name.split(b"\0", 1)[0].decode("ascii", "replace"), offset, size


def plan_wad(path: Path, package: str, domain: str, notes: PlanNotes,
             midi_seen: set[str]) -> list[Job]:
    jobs = []
    with open(path, "rb") as wad:
        for lump, offset, size in wad_lumps(path):
            wad.seek(offset)
            data = wad.read(size)
            if data.startswith(b"MUS\x1a"):
                notes.mus_lumps_skipped += 1
            elif data.startswith(b"MThd") and first_midi(data, notes, midi_seen):
                source = f"{package}:{path}::{lump}"
                jobs.append(Job(source, source, package, domain, f"{name_for(str(path))}__{lump}",
                                "wad-midi", (str(path), offset, size)))
    return jobs


# --------------------------------------------------------------------------------------------
# Synthesised speech: sentences generated from word lists, fixed seeds
# --------------------------------------------------------------------------------------------

ENGLISH_WORDS = {
    "name": ("Anna", "Peter", "Laura", "David", "Sophie", "Martin", "Emily", "James", "Grace",
             "Oliver", "Hannah", "Samuel", "Nora", "Victor", "Ruth", "Felix"),
    "noun": (("apple", "apples"), ("book", "books"), ("chair", "chairs"), ("bottle", "bottles"),
             ("letter", "letters"), ("flower", "flowers"), ("lamp", "lamps"), ("ticket", "tickets"),
             ("bicycle", "bicycles"), ("stone", "stones"), ("box", "boxes"), ("knife", "knives"),
             ("map", "maps"), ("violin", "violins"), ("basket", "baskets"), ("clock", "clocks"),
             ("shoe", "shoes"), ("candle", "candles"), ("umbrella", "umbrellas"),
             ("sandwich", "sandwiches"), ("key", "keys"), ("photograph", "photographs")),
    "adj": ("old", "heavy", "bright", "broken", "tiny", "expensive", "green", "wooden", "strange",
            "beautiful", "dusty", "quiet", "golden", "enormous", "fragile", "yellow", "ancient",
            "shiny", "ordinary", "curious"),
    "verb": (("buy", "bought", "buys"), ("sell", "sold", "sells"), ("count", "counted", "counts"),
             ("paint", "painted", "paints"), ("carry", "carried", "carries"),
             ("find", "found", "finds"), ("order", "ordered", "orders"),
             ("clean", "cleaned", "cleans"), ("repair", "repaired", "repairs"),
             ("collect", "collected", "collects"), ("hide", "hid", "hides"),
             ("wrap", "wrapped", "wraps"), ("measure", "measured", "measures"),
             ("deliver", "delivered", "delivers")),
    "place": ("in the old market", "at the railway station", "near the harbour", "in the garden",
              "behind the library", "on the top floor", "under the bridge",
              "at the edge of the forest", "inside the museum", "next to the bakery",
              "on the kitchen table", "across the street"),
    "time": ("every Monday", "this morning", "before dinner", "after the storm", "late at night",
             "during the summer", "on the first day of spring", "twice a week",
             "at half past seven", "in the middle of winter"),
    "activity": ("reading the newspaper", "fixing the roof", "cooking soup",
                 "talking on the phone", "walking the dog", "writing a long letter",
                 "practising the piano", "watering the plants", "waiting for the bus",
                 "counting the money"),
    "weather": ("sunny", "rainy", "windy", "cold", "foggy", "warm"),
    "opinion": ("far too much", "a fair price", "surprisingly cheap", "completely absurd",
                "not bad at all"),
    "weekday": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "month": ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"),
}
ENGLISH_TEMPLATES = (
    "{name} {verb_past} {count} {adj} {noun_pl} {place} {time}.",
    "Why did {name} {verb} the {adj} {noun} {place}?",
    "The {adj} {noun} was left {place} while {name} was {activity}.",
    "Please {verb} the {noun_pl} {time}, and then call {name2} on {phone}.",
    "On {weekday}, {month} {day}, {count} {noun_pl} arrived {place}.",
    "It costs {dollars} dollars and {cents} cents, which {name} thinks is {opinion}.",
    "Did you know that {name} {verb_3sg} {adj} {noun_pl} {time}?",
    '{name} shouted: "I will never {verb} another {adj} {noun} again!"',
    "If it is {weather} {time}, {name} and {name2} will {verb} the {noun_pl} {place}.",
    "At {hour} o'clock, {name} was still {activity}, so the {noun_pl} stayed {place}.",
)


def english_sentence(rng: random.Random) -> str:
    words = {key: rng.choice(values) for key, values in ENGLISH_WORDS.items()}
    verb, verb_past, verb_3sg = words.pop("verb")
    noun, noun_pl = words.pop("noun")
    name2 = rng.choice([n for n in ENGLISH_WORDS["name"] if n != words["name"]])
    return rng.choice(ENGLISH_TEMPLATES).format(
        **words, verb=verb, verb_past=verb_past, verb_3sg=verb_3sg, noun=noun, noun_pl=noun_pl,
        name2=name2, count=rng.randint(2, 999), day=rng.randint(1, 28),
        dollars=rng.randint(2, 500), cents=rng.randint(1, 99), hour=rng.randint(1, 12),
        phone=" ".join(str(rng.randint(0, 9)) for _ in range(7)))


@dataclass(frozen=True)
class Phrasebook:
    """Word lists for one language's sentence '<name> <verb> <count> <objects> <place>'.

    `order` places the slots grammatically (German and Dutch put the time phrase after the
    verb); objects are plural so no article or gender has to agree with the number.
    """

    order: tuple[str, ...]
    name: tuple[str, ...]
    verb: tuple[str, ...]
    objects: tuple[str, ...]
    place: tuple[str, ...]
    time: tuple[str, ...]
    adj: tuple[str, ...] = ()

    def sentence(self, rng: random.Random) -> str:
        slots = {slot: rng.choice(getattr(self, slot)) for slot in self.order if slot != "count"}
        slots["count"] = str(rng.randint(2, 999))
        return " ".join(slots[slot] for slot in self.order) + "."


ROMANCE_ORDER = ("name", "verb", "count", "objects", "place", "time")
GERMANIC_ORDER = ("name", "verb", "time", "count", "adj", "objects", "place")
PHRASEBOOKS = {
    "de": Phrasebook(
        GERMANIC_ORDER,
        ("Anna", "Lukas", "Sophie", "Jonas", "Marie", "Felix", "Lena", "Paul"),
        ("kauft", "verkauft", "zählt", "malt", "trägt", "findet", "bestellt", "putzt",
         "repariert", "sammelt", "versteckt", "verpackt"),
        ("Äpfel", "Bücher", "Stühle", "Flaschen", "Briefe", "Blumen", "Lampen", "Fahrkarten",
         "Fahrräder", "Steine", "Kisten", "Kerzen"),
        ("auf dem alten Markt", "am Bahnhof", "in der Nähe des Hafens", "im Garten",
         "hinter der Bibliothek", "im obersten Stock", "unter der Brücke", "im Museum"),
        ("jeden Montag", "heute Morgen", "vor dem Abendessen", "nach dem Sturm",
         "spät in der Nacht", "im Sommer", "zweimal pro Woche", "mitten im Winter"),
        ("alte", "schwere", "kleine", "grüne", "seltsame", "schöne", "teure", "hölzerne")),
    "nl": Phrasebook(
        GERMANIC_ORDER,
        ("Emma", "Daan", "Sanne", "Lucas", "Julia", "Bram", "Fleur", "Thijs"),
        ("koopt", "verkoopt", "telt", "schildert", "draagt", "vindt", "bestelt", "poetst",
         "repareert", "verzamelt", "verstopt", "verpakt"),
        ("appels", "boeken", "stoelen", "flessen", "brieven", "bloemen", "lampen", "kaartjes",
         "fietsen", "stenen", "dozen", "kaarsen"),
        ("op de oude markt", "op het station", "bij de haven", "in de tuin",
         "achter de bibliotheek", "op de bovenste verdieping", "onder de brug", "in het museum"),
        ("elke maandag", "vanochtend", "voor het avondeten", "na de storm",
         "laat in de nacht", "in de zomer", "twee keer per week", "midden in de winter"),
        ("oude", "zware", "kleine", "groene", "vreemde", "mooie", "dure", "houten")),
    "fr": Phrasebook(
        ROMANCE_ORDER,
        ("Claire", "Julien", "Camille", "Louis", "Chloé", "Hugo", "Manon", "Lucas"),
        ("achète", "vend", "compte", "peint", "porte", "trouve", "commande", "nettoie",
         "répare", "collectionne", "cache", "emballe"),
        ("pommes", "livres", "chaises", "bouteilles", "lettres", "fleurs", "lampes", "billets",
         "vélos", "pierres", "boîtes", "bougies"),
        ("au vieux marché", "à la gare", "près du port", "dans le jardin",
         "derrière la bibliothèque", "au dernier étage", "sous le pont", "au musée"),
        ("chaque lundi", "ce matin", "avant le dîner", "après l'orage", "tard dans la nuit",
         "pendant l'été", "deux fois par semaine", "au milieu de l'hiver")),
    "es": Phrasebook(
        ROMANCE_ORDER,
        ("Lucía", "Pablo", "Carmen", "Diego", "Elena", "Javier", "Sofía", "Mateo"),
        ("compra", "vende", "cuenta", "pinta", "lleva", "encuentra", "pide", "limpia",
         "repara", "colecciona", "esconde", "envuelve"),
        ("manzanas", "libros", "sillas", "botellas", "cartas", "flores", "lámparas", "billetes",
         "bicicletas", "piedras", "cajas", "velas"),
        ("en el mercado viejo", "en la estación de tren", "cerca del puerto", "en el jardín",
         "detrás de la biblioteca", "en el último piso", "debajo del puente", "en el museo"),
        ("cada lunes", "esta mañana", "antes de la cena", "después de la tormenta",
         "tarde por la noche", "durante el verano", "dos veces por semana", "en pleno invierno")),
    "it": Phrasebook(
        ROMANCE_ORDER,
        ("Giulia", "Marco", "Chiara", "Luca", "Sara", "Matteo", "Elena", "Paolo"),
        ("compra", "vende", "conta", "dipinge", "porta", "trova", "ordina", "pulisce",
         "ripara", "colleziona", "nasconde", "incarta"),
        ("mele", "libri", "sedie", "bottiglie", "lettere", "fiori", "lampade", "biglietti",
         "biciclette", "pietre", "scatole", "candele"),
        ("al vecchio mercato", "alla stazione", "vicino al porto", "nel giardino",
         "dietro la biblioteca", "all'ultimo piano", "sotto il ponte", "al museo"),
        ("ogni lunedì", "stamattina", "prima di cena", "dopo il temporale", "a tarda notte",
         "durante l'estate", "due volte alla settimana", "in pieno inverno")),
    "pt": Phrasebook(
        ROMANCE_ORDER,
        ("Beatriz", "João", "Inês", "Tiago", "Mariana", "Rui", "Ana", "Pedro"),
        ("compra", "vende", "conta", "pinta", "carrega", "encontra", "pede", "limpa",
         "conserta", "coleciona", "esconde", "embrulha"),
        ("maçãs", "livros", "cadeiras", "garrafas", "cartas", "flores", "lâmpadas", "bilhetes",
         "bicicletas", "pedras", "caixas", "velas"),
        ("no mercado antigo", "na estação", "perto do porto", "no jardim",
         "atrás da biblioteca", "no último andar", "debaixo da ponte", "no museu"),
        ("todas as segundas-feiras", "esta manhã", "antes do jantar", "depois da tempestade",
         "tarde da noite", "durante o verão", "duas vezes por semana", "em pleno inverno")),
}
ESPEAK_VOICES = {
    "en": ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc",
           "en-gb-x-gbclan", "en-gb-x-gbcwmd"),
    "de": ("de",), "nl": ("nl",), "fr": ("fr-fr", "fr-be", "fr-ch"), "es": ("es", "es-419"),
    "it": ("it",), "pt": ("pt", "pt-br"),
}
ESPEAK_VARIANTS = ("", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4",
                   "f5", "klatt", "klatt2", "klatt3", "klatt4", "Andy", "Annie", "Denis", "Lee",
                   "Michael", "anika", "aunty", "belinda", "caleb", "edward", "grandma",
                   "grandpa", "john", "linda", "max", "norbert", "paul", "quincy", "rob",
                   "robert", "sandro", "shelby", "steph", "travis", "victor")
ESPEAK_AMPLITUDE = 50  # at the default 100 a quarter of the clips clip; 70 still clips some voices
ESPEAK_LANGUAGE_CYCLE = ("en", "de", "fr", "es", "it", "nl", "pt", "en")
ESPEAK_BATCHES, FESTIVAL_BATCHES, SENTENCES_PER_BATCH, RENDITIONS_PER_BATCH = 72, 48, 5, 2


def batch_text(language: str, rng: random.Random) -> str:
    if language == "en":
        return " ".join(english_sentence(rng) for _ in range(SENTENCES_PER_BATCH))
    return " ".join(PHRASEBOOKS[language].sentence(rng) for _ in range(SENTENCES_PER_BATCH))


def plan_espeak() -> list[Job]:
    """Each batch: five sentences of one language, spoken by two random voice settings."""
    jobs = []
    for batch in range(ESPEAK_BATCHES):
        rng = random.Random(f"espeak-batch-{batch}")
        language = ESPEAK_LANGUAGE_CYCLE[batch % len(ESPEAK_LANGUAGE_CYCLE)]
        text = batch_text(language, rng)
        group = f"{ESPEAK}/batch-{batch:03d}"
        for rendition in range(RENDITIONS_PER_BATCH):
            variant = rng.choice(ESPEAK_VARIANTS)
            voice = rng.choice(ESPEAK_VOICES[language]) + (f"+{variant}" if variant else "")
            pitch, speed, gap = rng.randint(25, 75), rng.randint(135, 205), rng.randint(0, 3)
            name = f"batch-{batch:03d}-{rendition}_{voice}_p{pitch}_s{speed}_g{gap}"
            jobs.append(Job(f"{group}/{rendition}", group, ESPEAK, "speech", name, "espeak",
                            (text, voice, pitch, speed, gap)))
    return jobs


def festival_settings(voice: str, rng: random.Random) -> tuple[str, str]:
    """(scheme that selects and varies the voice, short label) for one festival rendition."""
    if voice == "kal":
        stretch, mean, spread = round(rng.uniform(0.85, 1.25), 2), rng.randint(85, 140), rng.randint(10, 25)
        scheme = (f"(begin (voice_kal_diphone) (Parameter.set 'Duration_Stretch {stretch}) "
                  f"(set! int_lr_params '((target_f0_mean {mean}) (target_f0_std {spread}) "
                  f"(model_f0_mean 170) (model_f0_std 34))))")
        return scheme, f"kal_stretch{stretch}_f0-{mean}"
    rate, semitones = round(rng.uniform(0.8, 1.2), 2), round(rng.uniform(-3.0, 3.0), 1)
    scheme = (f"(begin (voice_cmu_us_slt_arctic_hts) (set! hts_engine_params (append "
              f"hts_engine_params '((\"-r\" {rate}) (\"-fm\" {semitones})))))")
    return scheme, f"slt_rate{rate}_semitones{semitones}"


def plan_festival() -> list[Job]:
    """Each batch: five English sentences, spoken by the kal diphone and the slt HTS voice."""
    jobs = []
    for batch in range(FESTIVAL_BATCHES):
        rng = random.Random(f"festival-batch-{batch}")
        text = batch_text("en", rng)
        group = f"{FESTIVAL}/batch-{batch:03d}"
        for voice in ("kal", "slt"):
            scheme, label = festival_settings(voice, rng)
            jobs.append(Job(f"{group}/{voice}", group, FESTIVAL, "speech",
                            f"batch-{batch:03d}_{label}", "festival", (text, scheme)))
    return jobs


def plan(selected: set[str] | None, notes: PlanNotes) -> list[Job]:
    """Every job, in the fixed order that makes deduplication deterministic."""
    jobs: list[Job] = []
    midi_seen: set[str] = set()
    for domain in DOMAINS:
        for package in RECORDED_SOURCES[domain]:
            if selected is None or package in selected:
                jobs.extend(plan_recorded(package, domain, notes, midi_seen))
    if selected is None or ESPEAK in selected:
        jobs.extend(plan_espeak())
    if selected is None or FESTIVAL in selected:
        jobs.extend(plan_festival())
    names = collections.Counter((job.package, job.name) for job in jobs)
    clashes = [f"{package}/{name}" for (package, name), count in names.items() if count > 1]
    if clashes:
        raise CorpusError(f"output names clash: {', '.join(clashes[:3])}")
    return jobs


# --------------------------------------------------------------------------------------------
# Producers: decode or render one job to float audio
# --------------------------------------------------------------------------------------------

@dataclass
class Decoded:
    audio: np.ndarray  # float32, (frames, channels)
    rate: int
    bits: int          # 16 or 24: resolution to write


def run_text(command: list[str], **kwargs) -> str:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {detail}")
    return done.stdout


def read_soundfile(source: str | io.BytesIO) -> Decoded:
    with sf.SoundFile(source) as handle:
        bits = 24 if handle.subtype in HIGH_RESOLUTION_SUBTYPES else 16
        return Decoded(handle.read(dtype="float32", always_2d=True), handle.samplerate, bits)


def produce_file(path: str) -> Decoded:
    return read_soundfile(path)


def produce_zip_member(path: str, member: str) -> Decoded:
    with zipfile.ZipFile(path) as archive:
        return read_soundfile(io.BytesIO(archive.read(member)))


def produce_g722(path: str) -> Decoded:
    command = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
               "-f", "g722", "-i", path, "-f", "f32le", "-acodec", "pcm_f32le", "-"]
    done = subprocess.run(command, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed on {path}: {done.stderr.decode(errors='replace').strip()}")
    return Decoded(np.frombuffer(done.stdout, dtype="<f4").reshape(-1, 1), G722_RATE, 16)


def render_midi(data: bytes) -> Decoded:
    """fluidsynth with the General MIDI soundfont, rendered offline at 44.1 kHz, float output."""
    with tempfile.TemporaryDirectory(prefix="corpus-midi-") as scratch:
        midi, wav = Path(scratch) / "in.mid", Path(scratch) / "out.wav"
        midi.write_bytes(data)
        run_text(["fluidsynth", "-n", "-i", "-q", "-F", str(wav), "-r", "44100", "-O", "float",
                  "-T", "wav", str(SOUNDFONT), str(midi)])
        decoded = read_soundfile(str(wav))
    decoded.bits = 16  # the float file is a rendering format, not source resolution
    return decoded


def produce_midi(path: str) -> Decoded:
    return render_midi(Path(path).read_bytes())


def produce_wad_midi(path: str, offset: int, size: int) -> Decoded:
    with open(path, "rb") as wad:
        wad.seek(offset)
        return render_midi(wad.read(size))


def synthesise(command: list[str], text: str) -> Decoded:
    """Run a text-to-speech command that reads {text} and writes {wav}, and read the result."""
    with tempfile.TemporaryDirectory(prefix="corpus-tts-") as scratch:
        text_path, wav = Path(scratch) / "text.txt", Path(scratch) / "speech.wav"
        text_path.write_text(text + "\n", encoding="utf-8")
        paths = {"{text}": str(text_path), "{wav}": str(wav)}
        run_text([paths.get(part, part) for part in command])
        return read_soundfile(str(wav))


def produce_espeak(text: str, voice: str, pitch: int, speed: int, gap: int) -> Decoded:
    return synthesise(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "-g", str(gap),
                       "-a", str(ESPEAK_AMPLITUDE), "-f", "{text}", "-w", "{wav}"], text)


def produce_festival(text: str, scheme: str) -> Decoded:
    return synthesise(["text2wave", "-eval", scheme, "{text}", "-o", "{wav}"], text)


PRODUCERS: dict[str, Callable[..., Decoded]] = {
    "file": produce_file, "zip": produce_zip_member, "g722": produce_g722,
    "midi": produce_midi, "wad-midi": produce_wad_midi,
    "espeak": produce_espeak, "festival": produce_festival,
}


# --------------------------------------------------------------------------------------------
# From audio to the PCM we write: quantise, judge, hash
# --------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """A worker's verdict on one job; `pcm` is set only when a new file should be written."""

    status: str  # "written" | "short" | "silent" | "error"
    rate: int = 0
    channels: int = 0
    frames: int = 0
    bits: int = 16
    sha256: str = ""
    existing: bool = False
    error: str = ""
    pcm: np.ndarray | None = None


def quantise(audio: np.ndarray, bits: int) -> np.ndarray:
    """Float audio to the integers soundfile writes: int16, or int32 holding 24 bits on top."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 1.0:
        audio = audio / np.float32(peak)
    full_scale = float(2 ** (bits - 1))
    scaled = np.clip(np.round(audio * np.float32(full_scale)), -full_scale, full_scale - 1)
    return scaled.astype(np.int16) if bits == 16 else scaled.astype(np.int32) << 8


def judge(pcm: np.ndarray, rate: int, bits: int, existing: bool = False) -> Outcome:
    frames, channels = pcm.shape
    digest = hashlib.sha256(f"{rate}:{channels}:{bits}:".encode() + pcm.tobytes()).hexdigest()
    outcome = Outcome("written", rate, channels, frames, bits, digest, existing)
    if frames < MIN_SECONDS * rate:
        outcome.status = "short"
    elif not pcm.any():
        outcome.status = "silent"
    else:
        outcome.pcm = None if existing else pcm
    return outcome


def read_existing(path: Path) -> Outcome:
    info = sf.info(str(path))
    bits = 24 if info.subtype == "PCM_24" else 16
    pcm = sf.read(str(path), dtype="int32" if bits == 24 else "int16", always_2d=True)[0]
    return judge(pcm, info.samplerate, bits, existing=True)


def process(job: Job, out: Path) -> Outcome:
    """Worker entry point: never raises, so one bad clip cannot stop the build."""
    try:
        target = out / job.relative_output
        if target.exists():
            return read_existing(target)
        decoded = PRODUCERS[job.kind](*job.args)
        return judge(quantise(decoded.audio, decoded.bits), decoded.rate, decoded.bits)
    except Exception as error:  # noqa: BLE001 - reported per job, retried on the next run
        return Outcome("error", error=f"{type(error).__name__}: {error}")


def write_flac(path: Path, pcm: np.ndarray, rate: int, bits: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    sf.write(str(temporary), pcm, rate, format="FLAC", subtype=f"PCM_{bits}")
    os.replace(temporary, path)


def write_json(path: Path, value: object) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


# --------------------------------------------------------------------------------------------
# Journal, ordered execution, the build itself
# --------------------------------------------------------------------------------------------

class Manifest:
    """Append-only JSON-lines journal of decided sources; the last line wins per source."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict] = {}
        if path.exists():
            text = path.read_text()
            for line in text.splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by an interrupted run; its source is redone
                self.records[record["source"]] = record
            if text and not text.endswith("\n"):
                with open(path, "a", encoding="utf-8") as journal:
                    journal.write("\n")  # keep the next record off the torn line

    def settled(self, job: Job, out: Path) -> bool:
        record = self.records.get(job.source)
        if record is None:
            return False
        return record["status"] != "written" or (out / record["path"]).exists()

    def append(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as journal:
            journal.write(json.dumps(record, sort_keys=True) + "\n")
        self.records[record["source"]] = record


def run_ordered(function: Callable, items: list, workers: int) -> Iterator[tuple[object, object]]:
    """(item, function(item)) in input order; at most 2*workers results are in flight."""
    if workers <= 1:
        for item in items:
            yield item, function(item)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending: collections.deque[tuple[object, Future]] = collections.deque()
        remaining = iter(items)
        for item in islice(remaining, 2 * workers):
            pending.append((item, pool.submit(function, item)))
        while pending:
            item, future = pending.popleft()
            yield item, future.result()
            for following in islice(remaining, 1):
                pending.append((following, pool.submit(function, following)))


@dataclass
class JobProcessor:
    """Picklable worker callable: process(job, out)."""

    out: Path

    def __call__(self, job: Job) -> Outcome:
        return process(job, self.out)


def build(jobs: list[Job], out: Path, workers: int) -> tuple[int, dict[str, float]]:
    """Make every missing output; return (errors, wall seconds per package in this run)."""
    manifest = Manifest(out / "manifest.jsonl")
    seen = {r["sha256"]: r["source"] for r in manifest.records.values() if r["status"] == "written"}
    todo = [job for job in jobs if not manifest.settled(job, out)]
    log(f"{len(jobs)} sources planned, {len(jobs) - len(todo)} already done, {len(todo)} to do")
    errors, seconds = 0, collections.defaultdict(float)
    started = last_report = time.monotonic()
    tick = started
    for done, (job, outcome) in enumerate(run_ordered(JobProcessor(out), todo, workers), 1):
        if outcome.status == "error":
            errors += 1
            log(f"ERROR {job.source}: {outcome.error}")
        else:
            record_outcome(job, outcome, out, manifest, seen)
        now = time.monotonic()
        seconds[job.package] += now - tick
        tick = now
        if now - last_report >= PROGRESS_EVERY_SECONDS or done == len(todo):
            log(f"{done}/{len(todo)} done, {now - started:.0f} s, at {job.package}")
            last_report = now
    return errors, dict(seconds)


def record_outcome(job: Job, outcome: Outcome, out: Path, manifest: Manifest,
                   seen: dict[str, str]) -> None:
    record = {"source": job.source, "group": job.group, "package": job.package,
              "domain": job.domain, "split": job.split, "status": outcome.status,
              "rate": outcome.rate, "channels": outcome.channels, "frames": outcome.frames,
              "bits": outcome.bits, "sha256": outcome.sha256, "path": None}
    target = out / job.relative_output
    if outcome.status == "written" and seen.get(outcome.sha256, job.source) != job.source:
        record.update(status="duplicate", duplicate_of=seen[outcome.sha256])
        if outcome.existing:
            target.unlink()  # made by an older build that lacked the earlier twin
    elif outcome.status == "written":
        if outcome.pcm is not None:
            write_flac(target, outcome.pcm, outcome.rate, outcome.bits)
        seen[outcome.sha256] = job.source
        record["path"] = job.relative_output
    manifest.append(record)


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------

def corpus_stats(jobs: list[Job], manifest: Manifest, notes: PlanNotes,
                 versions: dict[str, str], seconds: dict[str, float]) -> dict:
    splits: dict = {split: {domain: {"files": 0, "minutes": 0.0, "by_rate": {}}
                            for domain in DOMAINS} for split in ("train", "val")}
    skipped: collections.Counter = collections.Counter()
    for job in jobs:
        record = manifest.records.get(job.source)
        if record is None:
            skipped["not built (error)"] += 1
            continue
        if record["status"] != "written":
            skipped[record["status"]] += 1
            continue
        minutes = record["frames"] / record["rate"] / 60
        cell = splits[record["split"]][record["domain"]]
        rate = cell["by_rate"].setdefault(str(record["rate"]), {"files": 0, "minutes": 0.0})
        for entry in (cell, rate):
            entry["files"] += 1
            entry["minutes"] += minutes
    return {"splits": splits, "skipped": dict(skipped),
            "mus_lumps_skipped": notes.mus_lumps_skipped,
            "duplicate_midi_dropped": notes.duplicate_midi,
            "package_versions": versions,
            "last_run_seconds_by_package": {k: round(v, 1) for k, v in sorted(seconds.items())}}


def stats_table(stats: dict) -> str:
    lines = [f"{'split':<6} {'domain':<8} {'rate':>7} {'files':>7} {'minutes':>9}"]
    for split, domains in stats["splits"].items():
        for domain, cell in domains.items():
            for rate, entry in sorted(cell["by_rate"].items(), key=lambda item: int(item[0])):
                lines.append(f"{split:<6} {domain:<8} {rate:>7} {entry['files']:>7} "
                             f"{entry['minutes']:>9.1f}")
            lines.append(f"{split:<6} {domain:<8} {'all':>7} {cell['files']:>7} "
                         f"{cell['minutes']:>9.1f}")
    skipped = ", ".join(f"{count} {why}" for why, count in sorted(stats["skipped"].items()))
    lines.append(f"skipped: {skipped or 'none'}; MUS lumps skipped: {stats['mus_lumps_skipped']}; "
                 f"duplicate MIDI files dropped: {stats['duplicate_midi_dropped']}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Packages and command line
# --------------------------------------------------------------------------------------------

def all_packages() -> list[str]:
    return [*RECORDED_PACKAGES, *SYNTH_PACKAGES, *TOOL_PACKAGES]


def installed_versions(packages: Iterable[str]) -> dict[str, str]:
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Status}\t${Version}\n",
                           *packages], capture_output=True, text=True)
    versions = {}
    for line in done.stdout.splitlines():
        package, status, version = line.split("\t")
        if status.endswith(" installed"):
            versions[package] = version
    return versions


def ensure_packages(packages: list[str], dry_run: bool) -> dict[str, str]:
    """apt-get update once and install everything by name, unless all are installed already."""
    versions = installed_versions(packages)
    missing = [package for package in packages if package not in versions]
    if not missing:
        log(f"all {len(packages)} Debian packages are installed")
        return versions
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if dry_run:
        log(f"would run: apt-get update && {' '.join(install)}  (missing: {' '.join(missing)})")
        return versions
    if os.geteuid() != 0:
        raise CorpusError(f"not root and packages are missing: {' '.join(missing)}")
    log(f"installing {len(missing)} missing Debian packages: {' '.join(missing)}")
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update"], install):
        if subprocess.run(command, env=environment).returncode != 0:
            raise CorpusError(f"'{' '.join(command[:2])}' failed; see its output above")
    return installed_versions(packages)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True,
                        help="output folder, outside the repository (e.g. DATA/corpus)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument("--nice", type=int, default=10,
                        help="raise this process's niceness to at least this (default: 10)")
    parser.add_argument("--only", action="append", metavar="SOURCE",
                        help=f"build only this package (or {ESPEAK} / {FESTIVAL}); repeatable")
    parser.add_argument("--dry-run", action="store_true",
                        help="list what would be installed and written, change nothing")
    arguments = parser.parse_args(argv)
    if arguments.jobs < 1:
        raise CorpusError(f"--jobs must be at least 1, not {arguments.jobs}")
    unknown = sorted(set(arguments.only or ()) - {*RECORDED_PACKAGES, ESPEAK, FESTIVAL})
    if unknown:
        raise CorpusError(f"--only: not a corpus source: {', '.join(unknown)}")
    return arguments


def report_dry_run(jobs: list[Job], out: Path, missing: list[str], notes: PlanNotes) -> None:
    for job in jobs:
        state = "exists" if (out / job.relative_output).exists() else "write "
        print(f"{state} {job.relative_output}  <-  {job.kind} {job.source}")
    per_package = collections.Counter(job.package for job in jobs)
    for package, count in per_package.items():
        print(f"{count:6d} sources from {package}")
    print(f"MUS lumps skipped: {notes.mus_lumps_skipped}; "
          f"duplicate MIDI files dropped: {notes.duplicate_midi}")
    if missing:
        print(f"not installed, so not listed yet: {' '.join(missing)}")


def main(argv: list[str] | None = None) -> int:
    try:
        arguments = parse_arguments(argv)
        os.nice(max(0, arguments.nice - os.nice(0)))
        out: Path = arguments.out
        packages = all_packages()
        versions = ensure_packages(packages, arguments.dry_run)
        missing = [package for package in packages if package not in versions]
        selected = set(arguments.only) if arguments.only else None
        wanted = selected - set(missing) if selected else set(packages) - set(missing)
        notes = PlanNotes()
        jobs = plan(wanted, notes)
        if arguments.dry_run:
            report_dry_run(jobs, out, missing, notes)
            return 0
        out.mkdir(parents=True, exist_ok=True)
        with open(out / ".build.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CorpusError(f"another build is writing to {out}") from None
            started = time.monotonic()
            errors, seconds = build(jobs, out, arguments.jobs)
            stats = corpus_stats(jobs, Manifest(out / "manifest.jsonl"), notes, versions, seconds)
            stats["last_run_seconds"] = round(time.monotonic() - started, 1)
            write_json(out / "corpus_stats.json", stats)
        print(stats_table(stats), flush=True)
        log(f"done in {stats['last_run_seconds']:.0f} s with {errors} errors; "
            f"statistics in {out / 'corpus_stats.json'}")
        return 1 if errors else 0
    except CorpusError as error:
        print(f"build_corpus: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
