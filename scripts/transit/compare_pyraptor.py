"""Side-by-side check of the platform's planner against pyraptor (PyPI, 1.3.10).

Builds the demonstration feed in the form pyraptor accepts (see its quirks in the
reference: calendar_dates only, agency_name filter, integer trip_short_name, stations
by stop_name with parent_station and platform_code), runs the same random queries
through both planners, checks that the earliest arrivals agree, and reports the speed.

Usage: python compare_pyraptor.py YRD_BINARY WORKDIR [QUERIES]
Needs: pip install pyraptor==1.3.10 "numpy<2" attrs
"""
import csv, datetime as dt, json, os, random, shutil, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
FEED = os.path.join(HERE, "..", "..", "data", "transit", "yrd-rail")
DATE = dt.date(2026, 11, 27)  # a Friday


def read(name):
    with open(os.path.join(FEED, name), encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write(folder, name, rows, fields=None):
    fields = fields or list(rows[0].keys())
    with open(os.path.join(folder, name), "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def runs(service, date, calendar, dates):
    for d in dates:
        if d["service_id"] == service and d["date"] == date.strftime("%Y%m%d"):
            return d["exception_type"] == "1"
    day = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"][date.weekday()]
    return any(c["service_id"] == service and c["start_date"] <= date.strftime("%Y%m%d") <= c["end_date"] and c[day] == "1" for c in calendar)


def comparison_feed(folder):
    """The demo feed for one day, as pyraptor reads it; both planners load this one."""
    os.makedirs(folder, exist_ok=True)
    calendar, dates = read("calendar.txt"), read("calendar_dates.txt")
    services = sorted({t["service_id"] for t in read("trips.txt") if runs(t["service_id"], DATE, calendar, dates)})
    write(folder, "calendar_dates.txt", [{"service_id": s, "date": DATE.strftime("%Y%m%d"), "exception_type": 1} for s in services])
    for name in ["agency.txt", "routes.txt", "feed_info.txt", "translations.txt"]:
        shutil.copy(os.path.join(FEED, name), folder)
    trips = [t for t in read("trips.txt") if t["service_id"] in services]
    kept = {t["trip_id"] for t in trips}
    write(folder, "trips.txt", trips)
    write(folder, "stop_times.txt", [st for st in read("stop_times.txt") if st["trip_id"] in kept])
    # pyraptor changes trains at one platform at no cost and walks nowhere: so do we here.
    stops = read("stops.txt")
    for s in stops:
        s["yrd_jurisdiction"] = ""
    write(folder, "stops.txt", stops)
    write(folder, "transfers.txt", [{"from_stop_id": s["stop_id"], "to_stop_id": s["stop_id"], "transfer_type": 2, "min_transfer_time": 0} for s in stops if s["location_type"] == "1"])


def main(binary, workdir, count=200):
    count = int(count)
    feed = os.path.join(workdir, "comparison-feed")
    comparison_feed(feed)
    db = os.path.join(workdir, "comparison.db")
    if os.path.exists(db):
        os.remove(db)
    subprocess.run([binary, "--db", db, "--log", "warn", "transit", "import-gtfs", feed, "--feed", "cmp"], check=True, capture_output=True)

    stations = [s for s in read("stops.txt") if s["location_type"] == "1"]
    rng = random.Random(2026)
    queries = []
    while len(queries) < count:
        a, b = rng.sample(stations, 2)
        hour, minute = rng.randint(6, 13), rng.choice([0, 15, 30, 45])
        queries.append((a, b, f"{hour:02d}:{minute:02d}"))

    lines = "\n".join(json.dumps({"from": a["stop_id"], "to": b["stop_id"], "date": DATE.isoformat(), "time": t}) for a, b, t in queries)
    ours = subprocess.run([binary, "--db", db, "--log", "warn", "transit", "plan"], input=lines, capture_output=True, text=True, check=True)
    our_answers = [json.loads(l) for l in ours.stdout.splitlines()]

    from loguru import logger
    logger.remove()
    from pyraptor.gtfs.timetable import read_gtfs_timetable, gtfs_to_pyraptor_timetable
    from pyraptor.model.raptor import RaptorAlgorithm
    timetable = gtfs_to_pyraptor_timetable(read_gtfs_timetable(feed, DATE.strftime("%Y%m%d"), ["长三角城际铁路（演示）"]))

    def clock(secs):
        return f"{secs // 3600:02d}:{secs % 3600 // 60:02d}"

    agree = disagree = both_none = 0
    py_times, our_times = [], []
    for (a, b, t), answer in zip(queries, our_answers):
        h, m = map(int, t.split(":"))
        from_stops = timetable.stations.get(a["stop_name"]).stops
        to_stops = set(timetable.stations.get(b["stop_name"]).stops)
        started = time.perf_counter()
        bags = RaptorAlgorithm(timetable).run(from_stops, h * 3600 + m * 60, 8)
        py_times.append(time.perf_counter() - started)
        # The earliest arrival is the best label over all rounds (pyraptor leaves late rounds empty).
        best = min((label.earliest_arrival_time for bag in bags.values() for stop, label in bag.items() if stop in to_stops), default=None)
        py = clock(best) if best is not None and best < 10**8 and best < 24 * 3600 else None
        ours_arrival = answer.get("earliest_arrival")
        if ours_arrival and "+" in ours_arrival:
            ours_arrival = None  # next day: pyraptor plans within one service day only
        our_times.append(answer["micros"] / 1e6)
        if py == ours_arrival:
            agree += 1
            both_none += py is None
        else:
            disagree += 1
            print(f"DISAGREE {a['stop_name']} → {b['stop_name']} at {t}: yrd {ours_arrival}, pyraptor {py}")
    py_median, our_median = statistics.median(py_times), statistics.median(our_times)
    print(json.dumps({
        "queries": count, "agree": agree, "disagree": disagree, "unreachable_in_both": both_none,
        "pyraptor_median_ms": round(py_median * 1000, 2), "yrd_median_ms": round(our_median * 1000, 3),
        "yrd_p99_ms": round(sorted(our_times)[int(0.99 * len(our_times)) - 1] * 1000, 3),
        "speed_ratio": round(py_median / our_median, 1),
    }))
    return 0 if disagree == 0 else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
