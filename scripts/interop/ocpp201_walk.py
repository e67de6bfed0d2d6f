"""A charging session driven by the Python `ocpp` package as an OCPP 2.0.1 charging
station against a running `yrd`: boot, status, authorise, TransactionEvent Started and
Updated with meter values, a RequestStopTransaction sent through the REST API,
TransactionEvent Ended, and the charge detail record priced by the tariff; then
2.0.1's error codes for malformed input. The package validates what it receives
against the official 2.0.1 JSON schemas.

Usage: python ocpp201_walk.py BASE_URL OPERATOR_TOKEN STATION_ID STATION_KEY ID_TOKEN
"""
import asyncio
import base64
import json
import sys

import websockets
from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from ocpp16_walk import rest


class Station(ChargePoint):
    stop_requested = None

    @on(Action.request_stop_transaction)
    async def on_request_stop(self, transaction_id, **_):
        self.stop_requested.set_result(transaction_id)
        return call_result.RequestStopTransaction(status="Accepted")


def meter(wh):
    return [{"timestamp": "2026-11-28T11:00:00Z",
             "sampled_value": [{"value": wh, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}}]}]


async def main(base, token, station_id, key, id_token):
    url = base.replace("http://", "ws://") + "/ocpp/" + station_id
    auth = {"Authorization": "Basic " + base64.b64encode(f"{station_id}:{key}".encode()).decode()}
    async with websockets.connect(url, subprotocols=["ocpp2.0.1"], additional_headers=auth) as ws:
        assert ws.subprotocol == "ocpp2.0.1", ws.subprotocol
        station = Station(station_id, ws)
        station.stop_requested = asyncio.get_running_loop().create_future()
        listener = asyncio.create_task(station.start())

        boot = await station.call(call.BootNotification(charging_station={"model": "SIM-201", "vendor_name": "YRD-Interop"}, reason="PowerUp"))
        assert boot.status == "Accepted", boot
        await station.call(call.StatusNotification(timestamp="2026-11-28T11:00:00Z", connector_status="Available", evse_id=1, connector_id=1))
        authorised = await station.call(call.Authorize(id_token={"id_token": id_token, "type": "ISO14443"}))
        assert authorised.id_token_info["status"] == "Accepted", authorised
        tx = "tx-201-walk"
        started = await station.call(call.TransactionEvent(
            event_type="Started", timestamp="2026-11-28T11:00:00Z", trigger_reason="Authorized", seq_no=0,
            transaction_info={"transaction_id": tx, "charging_state": "Charging"}, evse={"id": 1, "connector_id": 1},
            id_token={"id_token": id_token, "type": "ISO14443"}, meter_value=meter(1000)))
        assert started.id_token_info["status"] == "Accepted", started
        await station.call(call.TransactionEvent(
            event_type="Updated", timestamp="2026-11-28T11:10:00Z", trigger_reason="MeterValuePeriodic", seq_no=1,
            transaction_info={"transaction_id": tx, "charging_state": "Charging"}, meter_value=meter(7000)))

        status, answer = await asyncio.to_thread(rest, base, "POST", f"/api/v1/charging/stations/{station_id}/commands", token,
                                                 {"action": "RequestStopTransaction", "payload": {"evseId": 1}})
        assert status == 200 and answer["status"] == "Accepted", (status, answer)
        assert await asyncio.wait_for(station.stop_requested, 5) == tx
        ended = await station.call(call.TransactionEvent(
            event_type="Ended", timestamp="2026-11-28T11:20:00Z", trigger_reason="RemoteStop", seq_no=2,
            transaction_info={"transaction_id": tx, "stopped_reason": "Remote"}, meter_value=meter(13345)))
        assert abs(ended.total_cost - 16.67) < 1e-9, ended

        status, cdrs = await asyncio.to_thread(rest, base, "GET", "/api/v1/charging/cdrs", token)
        cdr = cdrs[0]
        assert (cdr["energy_wh"], cdr["total_fen"]) == (12345, 1667), cdr

        listener.cancel()
        async def raw(frame):
            await ws.send(frame)
            return json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (await raw("[2"))[:3] == [4, "-1", "FormatViolation"]
        assert (await raw('[2,"e1","TransactionEvent",{"eventType":"Started"}]'))[:3] == [4, "e1", "OccurrenceConstraintViolation"]
        assert (await raw('[8,"e2","Heartbeat",{}]'))[:3] == [4, "e2", "MessageTypeNotSupported"]
        assert (await raw('[2,"e3","TransactionEvent",{"eventType":"Ended","timestamp":"2026-11-28T11:30:00Z","triggerReason":"EVDeparted","seqNo":9,"transactionInfo":{"transactionId":"nope"}}]'))[:3] == [4, "e3", "PropertyConstraintViolation"]
        assert (await raw('[2,"ok","Heartbeat",{}]'))[0] == 3

    print(f"OCPP 2.0.1 transaction {tx} by the Python ocpp package: boot, authorise, TransactionEvent Started/Updated, "
          f"RequestStopTransaction from the REST API, Ended; CDR {cdr['energy_wh']} Wh = {cdr['total_fen']} fen; 2.0.1 errors refused")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
