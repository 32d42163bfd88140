"""The fixed parts of the sample makerspace: opening hours, machines, consumables, prices."""

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Equipment:
    equipment_id: str
    name: str
    equipment_type: str
    hourly_rate: float
    minutes: tuple[int, int]  # shortest and longest session
    material: str  # the consumable a session uses, an Item.item_id
    per_hour: float  # of that material


@dataclass(frozen=True)
class Item:
    item_id: str
    name: str
    category: str
    unit_cost: float
    daily_use: float  # on an average open day
    reorder_point: float
    reorder_quantity: float


EQUIPMENT = (
    Equipment("printer-01", "Prusa MK4 #1", "3d_printer", 4.0, (30, 480), "pla", 0.012),
    Equipment("printer-02", "Prusa MK4 #2", "3d_printer", 4.0, (30, 480), "pla", 0.012),
    Equipment("printer-03", "Bambu X1C", "3d_printer", 5.0, (30, 360), "petg", 0.015),
    Equipment("printer-04", "Formlabs Form 3", "3d_printer", 6.0, (60, 300), "resin", 0.02),
    Equipment("laser-01", "Epilog Fusion Pro", "laser_cutter", 15.0, (10, 90), "plywood", 1.5),
    Equipment("laser-02", "Trotec Speedy 300", "laser_cutter", 15.0, (10, 90), "acrylic", 1.2),
    Equipment("cnc-01", "Shapeoko Pro XXL", "cnc", 20.0, (30, 240), "endmill", 0.1),
    Equipment("vinyl-01", "Roland GS2-24", "vinyl_cutter", 5.0, (10, 60), "vinyl", 2.0),
    Equipment("embroidery-01", "Brother PR680W", "embroidery", 6.0, (20, 120), "thread", 0.5),
    Equipment("bench-01", "Electronics bench", "electronics", 2.0, (30, 180), "solder", 0.02),
    Equipment("saw-01", "SawStop table saw", "woodworking", 8.0, (15, 120), "mdf", 0.8),
)

ITEMS = (
    Item("pla", "PLA filament (kg)", "filament", 22.0, 1.6, 8.0, 20.0),
    Item("petg", "PETG filament (kg)", "filament", 26.0, 0.7, 4.0, 10.0),
    Item("resin", "Standard resin (l)", "resin", 60.0, 0.25, 1.5, 5.0),
    Item("plywood", "Plywood 3 mm sheet", "sheet_material", 4.5, 6.0, 25.0, 80.0),
    Item("acrylic", "Acrylic 3 mm sheet", "sheet_material", 9.0, 3.5, 15.0, 50.0),
    Item("mdf", "MDF 6 mm sheet", "sheet_material", 7.0, 2.0, 10.0, 40.0),
    Item("endmill", "Carbide end mill", "tooling", 18.0, 0.2, 2.0, 6.0),
    Item("vinyl", "Vinyl roll (m)", "vinyl", 1.8, 3.0, 15.0, 50.0),
    Item("thread", "Embroidery thread spool", "textile", 3.5, 1.2, 6.0, 24.0),
    Item("solder", "Solder wire (100 g)", "electronics", 8.0, 0.4, 3.0, 10.0),
    Item("sandpaper", "Sandpaper pack", "consumable", 6.0, 0.8, 4.0, 15.0),
    Item("glasses", "Safety glasses", "safety", 4.0, 0.15, 3.0, 12.0),
)

# (name, monthly price, share of members)
PLANS = (("student", 25, 0.2), ("basic", 39, 0.35), ("standard", 59, 0.3), ("premium", 89, 0.15))
# (name, price per attendee)
WORKSHOPS = (
    ("Intro to 3D printing", 45),
    ("Laser cutting basics", 55),
    ("CNC safety and first cut", 75),
    ("Arduino for beginners", 40),
    ("Kids soldering club", 25),
    ("Sewing and embroidery", 35),
)
# Local (weekday, hour) when a workshop may run; weekday 0 is Monday.
WORKSHOP_SLOTS = ((1, 18), (3, 18), (5, 11), (5, 14))
MEMBERSHIP_PAYMENTS = (("sepa_direct_debit", 0.6), ("card", 0.3), ("paypal", 0.1))
SHOP_PAYMENTS = (("card", 0.55), ("cash", 0.2), ("paypal", 0.15), ("invoice", 0.1))
PARTS = (
    ("Arduino Nano", 22.0),
    ("NEMA 17 stepper motor", 14.0),
    ("M3 screw set", 6.5),
    ("LED strip (1 m)", 9.0),
    ("Raspberry Pi 5", 80.0),
    ("Power supply 12 V", 18.0),
    ("Linear rail 300 mm", 27.0),
    ("Hinges (pair)", 5.0),
)


# The hours `hour_weights` gives visits in; set on an organisation that has none.
OPENING_HOURS = {
    "mon": ["14:00-22:00"],
    "tue": ["10:00-22:00"],
    "wed": ["10:00-22:00"],
    "thu": ["10:00-22:00"],
    "fri": ["10:00-22:00"],
    "sat": ["09:00-18:00"],
    "sun": ["12:00-17:00"],
}


def _ramp(weights: list[float], start: int, end: int, weight: float) -> None:
    for hour in range(start, end):
        weights[hour] = weight


def hour_weights(weekday: int) -> list[float]:
    """How busy each local hour is; 0 means closed. Evenings on weekdays, daytime on Saturday."""
    weights = [0.0] * 24
    if weekday == 0:  # Monday: closed in the morning
        _ramp(weights, 14, 17, 1.5)
        _ramp(weights, 17, 21, 4.5)
        _ramp(weights, 21, 22, 1.5)
    elif weekday < 5:
        _ramp(weights, 10, 12, 0.8)
        _ramp(weights, 12, 14, 1.2)
        _ramp(weights, 14, 17, 2.0)
        _ramp(weights, 17, 21, 5.0)
        _ramp(weights, 21, 22, 2.0)
    elif weekday == 5:
        _ramp(weights, 9, 10, 1.5)
        _ramp(weights, 10, 16, 4.0)
        _ramp(weights, 16, 18, 2.0)
    else:  # Sunday: afternoons only
        _ramp(weights, 12, 17, 1.5)
    return weights


CLOSED_DAYS = {(12, 24), (12, 25), (12, 26), (12, 31), (1, 1)}


def season(day: date) -> float:
    """Quieter in the summer holidays and around Christmas, busier when the year starts."""
    if (day.month, day.day) in CLOSED_DAYS:
        return 0.0
    return {1: 1.15, 2: 1.1, 7: 0.85, 8: 0.7, 12: 0.8}.get(day.month, 1.0)
