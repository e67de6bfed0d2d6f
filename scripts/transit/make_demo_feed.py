"""Generates the demonstration GTFS feed in data/transit/yrd-rail/.

The G8388 loop line: its 21 real stations in order, leaving Shanghai at 10:27 and
arriving at Shanghai Hongqiao at 18:36; intermediate times are interpolated by distance
and are illustrative. Intercity lines linking all 41 cities are illustrative too.
The service calendar is real: weekday and weekend services follow the 2024–2026 public
holidays and make-up working days (data/calendar/cn-2024-2026.csv).
Run: python3 scripts/transit/make_demo_feed.py
"""
import csv, datetime as dt, math, os

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "data", "transit", "yrd-rail")
cities = {r["code"]: r for r in csv.DictReader(open(os.path.join(ROOT, "data", "jurisdictions.csv"), encoding="utf-8")) if r["level"] == "city"}

# Loop stations: (id, zh, en, city code, lon/lat offset from the city centre in km east/north)
LOOP = [
    ("SHH", "上海", "Shanghai", "310100", (0, 3)), ("SHW", "上海西", "Shanghai West", "310100", (-6, 4)),
    ("SZH", "苏州", "Suzhou", "320500", (0, 4)), ("WXX", "无锡新区", "Wuxi New District", "320200", (12, -4)),
    ("HSH", "惠山", "Huishan", "320200", (-8, 4)), ("CZH", "常州", "Changzhou", "320400", (0, 2)),
    ("ZJI", "镇江", "Zhenjiang", "321100", (0, 1)), ("NJS", "南京南", "Nanjing South", "320100", (2, -10)),
    ("HFS", "合肥南", "Hefei South", "340100", (3, -8)), ("LJW", "庐江西", "Lujiang West", "340100", (-15, -65)),
    ("AQI", "安庆", "Anqing", "340800", (0, 2)), ("CZO", "池州", "Chizhou", "341700", (0, 0)),
    ("JHS", "九华山", "Jiuhuashan", "341700", (35, -25)), ("HSW", "黄山西", "Huangshan West", "341000", (-30, 10)),
    ("HSN", "黄山北", "Huangshan North", "341000", (5, 5)), ("QDH", "千岛湖", "Qiandaohu", "330100", (-120, -60)),
    ("HZE", "杭州东", "Hangzhou East", "330100", (6, 2)), ("HNW", "海宁西", "Haining West", "330400", (-25, -30)),
    ("JXS", "嘉兴南", "Jiaxing South", "330400", (0, -5)), ("JSN", "金山北", "Jinshan North", "310100", (-20, -40)),
    ("SHHQ", "上海虹桥", "Shanghai Hongqiao", "310100", (-13, 0)),
]
stations = {}  # id -> (zh, en, city, lon, lat)
def place(city, east_km, north_km):
    c = cities[city]
    lat = float(c["lat"]) + north_km / 111.0
    lon = float(c["lon"]) + east_km / (111.0 * math.cos(math.radians(lat)))
    return round(lon, 5), round(lat, 5)
for sid, zh, en, city, (e, n) in LOOP:
    stations[sid] = (zh, en, city) + place(city, e, n)
# One main station for every other city.
city_station = {"310100": "SHHQ", "320500": "SZH", "320200": "WXX", "320400": "CZH", "321100": "ZJI", "320100": "NJS",
                "340100": "HFS", "340800": "AQI", "341700": "CZO", "341000": "HSN", "330100": "HZE", "330400": "JXS"}
for code, c in cities.items():
    if code not in city_station:
        sid = "C" + code[:4]
        stations[sid] = (c["name_zh"].rstrip("市") + "站", c["name_en"] + " Railway Station", code) + place(code, 0, 0)
        city_station[code] = sid

def km(a, b):
    (lo1, la1), (lo2, la2) = stations[a][3:5], stations[b][3:5]
    x = math.radians(lo2 - lo1) * math.cos(math.radians((la1 + la2) / 2)); y = math.radians(la2 - la1)
    return 6371 * math.hypot(x, y)

def hms(t):
    return f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"

# Intercity lines (illustrative): city codes in order.
LINES = [
    ("S1", ["310100", "320500", "320200", "320400", "321100", "320100"]),
    ("S2", ["310100", "330400", "330100"]),
    ("S3", ["320100", "340500", "340200", "341800", "341000"]),
    ("S4", ["320100", "341100", "340100"]),
    ("S5", ["340100", "340400", "341200", "341600"]),
    ("S6", ["340100", "341500"]),
    ("S7", ["340100", "340300", "341300", "340600", "320300"]),
    ("S8", ["320100", "321000", "321200", "320600", "310100"]),
    ("S9", ["320100", "320800", "321300", "320300"]),
    ("S10", ["320800", "320900", "320700"]),
    ("S11", ["330100", "330600", "330200", "330900"]),
    ("S12", ["330200", "331000", "330300"]),
    ("S13", ["330100", "330700", "330800"]),
    ("S14", ["330700", "331100", "330300"]),
    ("S15", ["330100", "330500", "320100"]),
    ("S16", ["340200", "340700", "341700", "340800", "340100"]),
    ("S17", ["320500", "320600"]),
    ("S18", ["340300", "340400"]),
]
rows = {k: [] for k in ["agency", "stops", "routes", "trips", "stop_times", "calendar", "calendar_dates", "transfers", "feed_info", "translations"]}
rows["agency"].append({"agency_id": "yrd-rail", "agency_name": "长三角城际铁路（演示）", "agency_url": "https://example.org/yrd-rail", "agency_timezone": "Asia/Shanghai", "agency_lang": "zh"})
for sid, (zh, en, city, lon, lat) in sorted(stations.items()):
    rows["stops"].append({"stop_id": sid, "stop_code": sid, "stop_name": zh, "stop_lat": lat, "stop_lon": lon, "location_type": 1, "parent_station": "", "platform_code": "", "yrd_jurisdiction": city})
    rows["stops"].append({"stop_id": sid + "-1", "stop_code": sid + "-1", "stop_name": zh, "stop_lat": lat, "stop_lon": lon, "location_type": 0, "parent_station": sid, "platform_code": "1", "yrd_jurisdiction": city})
    rows["translations"].append({"table_name": "stops", "field_name": "stop_name", "language": "en", "translation": en, "record_id": sid})
    rows["translations"].append({"table_name": "stops", "field_name": "stop_name", "language": "en", "translation": en, "record_id": sid + "-1"})
    rows["transfers"].append({"from_stop_id": sid, "to_stop_id": sid, "transfer_type": 2, "min_transfer_time": 300})
rows["routes"].append({"route_id": "G8388", "agency_id": "yrd-rail", "route_short_name": "G8388", "route_long_name": "长三角环线（演示时刻）", "route_type": 2})
trip_number = 8388
def add_trip(route, trip_id, short, service, station_ids, start, speed=210, dwell=120, fixed_end=None, headsign=""):
    times = [start]
    for a, b in zip(station_ids, station_ids[1:]):
        times.append(times[-1] + dwell + int(km(a, b) * 1.25 / speed * 3600))
    if fixed_end is not None:  # interpolate to the published arrival
        scale = (fixed_end - start) / (times[-1] - start)
        times = [start + round((t - start) * scale / 60) * 60 for t in times]
        times[-1] = fixed_end
    rows["trips"].append({"route_id": route, "service_id": service, "trip_id": trip_id, "trip_short_name": short, "trip_headsign": headsign, "trip_long_name": headsign})
    for seq, (sid, t) in enumerate(zip(station_ids, times), start=1):
        arr = t
        dep = t if seq in (1, len(station_ids)) else t + min(dwell, 120)
        if seq > 1 and seq < len(station_ids):
            arr = t - min(dwell, 120) // 2; dep = t + min(dwell, 120) // 2
        rows["stop_times"].append({"trip_id": trip_id, "arrival_time": hms(arr), "departure_time": hms(dep), "stop_id": sid + "-1", "stop_sequence": seq})
loop_ids = [s[0] for s in LOOP]
add_trip("G8388", "G8388-daily", "8388", "daily", loop_ids, 10 * 3600 + 27 * 60, fixed_end=18 * 3600 + 36 * 60, headsign="上海虹桥")
n = 1
for name, codes in LINES:
    rows["routes"].append({"route_id": name, "agency_id": "yrd-rail", "route_short_name": name, "route_long_name": "城际线 " + name + "（演示）", "route_type": 2})
    ids = [city_station[c] for c in codes]
    for direction, seq in (("0", ids), ("1", list(reversed(ids)))):
        for i, start in enumerate(range(6 * 3600 + 15 * 60 * (n % 4), 22 * 3600, 90 * 60)):
            for service in ("weekday", "weekend") if i % 3 else ("daily",):
                n += 1
                add_trip(name, f"{name}-{direction}-{i}-{service}", str(10000 + n), service, seq, start + (600 if service == "weekend" else 0), headsign=stations[seq[-1]][0])
    # A late train that runs past midnight.
    n += 1
    add_trip(name, f"{name}-0-late", str(10000 + n), "daily", ids, 23 * 3600 + 20 * 60, headsign=stations[ids[-1]][0])
start, end = "20240615", "20261231"
for service, days in (("weekday", [1, 1, 1, 1, 1, 0, 0]), ("weekend", [0, 0, 0, 0, 0, 1, 1]), ("daily", [1] * 7)):
    rows["calendar"].append(dict(zip(["service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "start_date", "end_date"], [service] + days + [start, end])))
for line in open(os.path.join(ROOT, "data", "calendar", "cn-2024-2026.csv"), encoding="utf-8"):
    if line.startswith("#") or line.startswith("date,"):
        continue
    date, kind, _ = line.strip().split(",", 2)
    d = dt.date.fromisoformat(date)
    if d < dt.date(2024, 6, 15):
        continue
    ymd = d.strftime("%Y%m%d")
    if kind == "off" and d.weekday() < 5:  # holiday on a weekday: weekend timetable
        rows["calendar_dates"] += [{"service_id": "weekday", "date": ymd, "exception_type": 2}, {"service_id": "weekend", "date": ymd, "exception_type": 1}]
    if kind == "work" and d.weekday() >= 5:  # make-up working weekend: weekday timetable
        rows["calendar_dates"] += [{"service_id": "weekend", "date": ymd, "exception_type": 2}, {"service_id": "weekday", "date": ymd, "exception_type": 1}]
rows["feed_info"].append({"feed_publisher_name": "YRD Platform demonstration data", "feed_publisher_url": "https://example.org/yrd", "feed_lang": "zh", "feed_start_date": start, "feed_end_date": end, "feed_version": "demo-2026-11"})
os.makedirs(OUT, exist_ok=True)
for name, table in rows.items():
    with open(os.path.join(OUT, name + ".txt"), "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(table[0].keys()), lineterminator="\n")
        w.writeheader(); w.writerows(table)
print({k: len(v) for k, v in rows.items()})
