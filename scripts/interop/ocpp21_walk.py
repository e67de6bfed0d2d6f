"""A battery swap driven by the Python `ocpp` package as an OCPP 2.1 battery-swap
station against a running `yrd`: boot, slot status, the driver's finder showing the
station's ready packs, a RequestBatterySwap sent through the REST API, BatterySwap
BatteryIn (the vehicle's pack into the free slot) and BatteryOut (a charged pack to
the vehicle), the swap record priced at the operator's swap fee and the pack inventory
moved; a slot's state of charge from MeterValues; then refusals of what breaks the
2.1 schema or names a slot or request the station does not have.

The package validates what it receives against the official 2.1 JSON schemas.

Usage: python ocpp21_walk.py BASE_URL OPERATOR_TOKEN STATION_ID STATION_KEY ID_TOKEN
"""
import asyncio
import base64
import json
import sys

import websockets
from ocpp.routing import on
from ocpp.v21 import ChargePoint, call, call_result
from ocpp.v21.enums import Action

from ocpp16_walk import rest


class SwapStation(ChargePoint):
    swap_requested = None

    @on(Action.request_battery_swap)
    async def on_request_battery_swap(self, id_token, request_id, **_):
        self.swap_requested.set_result((id_token["id_token"], request_id))
        return call_result.RequestBatterySwap(status="Accepted")


def pack(slot, serial, soc, soh):
    return {"evse_id": slot, "serial_number": serial, "so_c": soc, "so_h": soh}


async def main(base, token, station_id, key, id_token):
    url = base.replace("http://", "ws://") + "/ocpp/" + station_id
    auth = {"Authorization": "Basic " + base64.b64encode(f"{station_id}:{key}".encode()).decode()}
    status, packs = await asyncio.to_thread(rest, base, "GET", f"/api/v1/charging/stations/{station_id}/packs", token)
    assert status == 200, (status, packs)
    occupied = {p["slot"] for p in packs}
    status, station = await asyncio.to_thread(rest, base, "GET", "/api/v1/charging/stations", token)
    slots = next(s["swap"]["slots"] for s in station if s["id"] == station_id)
    free = next(slot for slot in range(1, slots + 1) if slot not in occupied)
    fullest = max(packs, key=lambda p: (p["soc"], -p["slot"]))

    async with websockets.connect(url, subprotocols=["ocpp2.1", "ocpp2.0.1"], additional_headers=auth) as ws:
        assert ws.subprotocol == "ocpp2.1", ws.subprotocol
        station = SwapStation(station_id, ws)
        station.swap_requested = asyncio.get_running_loop().create_future()
        listener = asyncio.create_task(station.start())

        boot = await station.call(call.BootNotification(charging_station={"model": "PSS-3", "vendor_name": "YRD-Interop"}, reason="PowerUp"))
        assert boot.status == "Accepted", boot
        await station.call(call.StatusNotification(timestamp="2026-12-02T09:00:00Z", connector_status="Available", evse_id=free, connector_id=1))

        # The driver looks for a station with a ready pack for the car.
        status, found = await asyncio.to_thread(
            rest, base, "GET", "/api/v1/charging/swap-stations/nearby?lon=121.4737&lat=31.2304&radius_km=5&vehicle_model=NIO%20ET5&ready=true", token)
        mine = [s for s in found if s["station_id"] == station_id]
        assert status == 200 and mine and mine[0]["online"] and mine[0]["packs_ready"] >= 1, (status, found)
        ready_before = mine[0]["packs_ready"]

        status, answer = await asyncio.to_thread(rest, base, "POST", f"/api/v1/charging/stations/{station_id}/commands", token,
                                                 {"action": "RequestBatterySwap", "payload": {"idToken": {"idToken": id_token, "type": "ISO14443"}, "requestId": 4711}})
        assert status == 200 and answer["status"] == "Accepted", (status, answer)
        assert await asyncio.wait_for(station.swap_requested, 5) == (id_token, 4711)
        # A payload outside the 2.1 schema is refused by the API before it is sent.
        status, problem = await asyncio.to_thread(rest, base, "POST", f"/api/v1/charging/stations/{station_id}/commands", token,
                                                  {"action": "RequestBatterySwap", "payload": {"requestId": 1}})
        assert status == 422 and problem["errors"][0]["path"] == "payload.idToken", (status, problem)

        id_token_type = {"id_token": id_token, "type": "ISO14443"}
        await station.call(call.BatterySwap(event_type="BatteryIn", request_id=4711, id_token=id_token_type,
                                            battery_data=[pack(free, "VEH-PACK-0001", 21.5, 91.0)]))
        await station.call(call.BatterySwap(event_type="BatteryOut", request_id=4711, id_token=id_token_type,
                                            battery_data=[pack(fullest["slot"], fullest["serial"], fullest["soc"], fullest["soh"])]))

        status, swaps = await asyncio.to_thread(rest, base, "GET", "/api/v1/charging/swaps", token)
        swap = next(s for s in swaps if s["station_id"] == station_id and s["request_id"] == 4711)
        assert (swap["status"], swap["pack_in"], swap["pack_out"], swap["fee_fen"]) == ("completed", "VEH-PACK-0001", fullest["serial"], 2500), swap

        # The incoming pack charges in its slot; the finder and the inventory follow.
        await station.call(call.MeterValues(evse_id=free, meter_value=[{"timestamp": "2026-12-02T09:30:00Z",
                                            "sampled_value": [{"value": 97.0, "measurand": "SoC", "unit_of_measure": {"unit": "Percent"}}]}]))
        status, packs = await asyncio.to_thread(rest, base, "GET", f"/api/v1/charging/stations/{station_id}/packs", token)
        by_slot = {p["slot"]: p for p in packs}
        assert by_slot[free]["serial"] == "VEH-PACK-0001" and by_slot[free]["soc"] == 97.0, by_slot.get(free)
        assert fullest["slot"] not in by_slot, "the pack that went out is no longer in its slot"
        status, found = await asyncio.to_thread(
            rest, base, "GET", "/api/v1/charging/swap-stations/nearby?lon=121.4737&lat=31.2304&radius_km=5&vehicle_model=NIO%20ET5", token)
        mine = next(s for s in found if s["station_id"] == station_id)
        assert mine["packs_ready"] == ready_before - (1 if fullest["soc"] >= 90 else 0) + 1, (ready_before, mine)

        listener.cancel()
        async def raw(frame):
            await ws.send(frame)
            return json.loads(await asyncio.wait_for(ws.recv(), 5))
        battery = lambda slot, soc: '{"evseId":%d,"serialNumber":"X","soC":%s,"soH":90}' % (slot, soc)
        swap_frame = lambda mid, event, request, data: ('[2,"%s","BatterySwap",{"eventType":"%s","requestId":%d,'
                                                         '"idToken":{"idToken":"%s","type":"ISO14443"},"batteryData":[%s]}]') % (mid, event, request, id_token, data)
        assert (await raw(swap_frame("e1", "BatteryIn", 1, battery(1, 101))))[:3] == [4, "e1", "PropertyConstraintViolation"]
        assert (await raw(swap_frame("e2", "BatteryIn", 1, battery(99, 50))))[:3] == [4, "e2", "PropertyConstraintViolation"]
        assert (await raw(swap_frame("e3", "BatteryOut", 999, battery(1, 50))))[:3] == [4, "e3", "PropertyConstraintViolation"]
        assert (await raw(swap_frame("e4", "BatteryGone", 1, battery(1, 50))))[:3] == [4, "e4", "TypeConstraintViolation"]
        assert (await raw('[2,"e5","BatterySwap",{"eventType":"BatteryIn","requestId":1}]'))[:3] == [4, "e5", "OccurrenceConstraintViolation"]
        assert (await raw('[2,"ok","Heartbeat",{}]'))[0] == 3

    print(f"OCPP 2.1 battery swap {swap['id']} by the Python ocpp package: boot, finder ({ready_before} packs ready), "
          f"RequestBatterySwap from the REST API, BatteryIn {swap['pack_in']} / BatteryOut {swap['pack_out']}, "
          f"{swap['fee_fen']} fen; slot SoC from MeterValues; 2.1 errors refused")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
