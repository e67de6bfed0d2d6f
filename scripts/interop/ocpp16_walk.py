"""A charging session driven by the Python `ocpp` package as an OCPP 1.6 charge point
against a running `yrd`: boot, status, authorise, start, meter values, a remote stop
sent through the REST API, stop, and the resulting charge detail record priced by the
operator's tariff. Then the protocol's errors: malformed frames, unknown actions,
payloads that break the schema, an unknown transaction, a flood, wrong credentials
and an unknown station — each refused while the connection stays up.

The `ocpp` package validates every message it receives against the official 1.6 JSON
schemas, so this also checks what the central system sends.

Usage: python ocpp16_walk.py BASE_URL OPERATOR_TOKEN STATION_ID STATION_KEY ID_TAG
"""
import asyncio
import base64
import json
import sys
import urllib.error
import urllib.request

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, ChargePointStatus, RegistrationStatus, RemoteStartStopStatus


def rest(base, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read().decode() or "null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read().decode() or "null")


class Station(ChargePoint):
    transaction_id = None
    stop_requested = None

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id, **_):
        self.stop_requested.set_result(transaction_id)
        return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.accepted)


def auth_header(user, key):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()}


async def refused_handshake(url, headers, subprotocol="ocpp1.6"):
    try:
        async with websockets.connect(url, subprotocols=[subprotocol], additional_headers=headers):
            return None
    except websockets.exceptions.InvalidStatus as error:
        return error.response.status_code


async def main(base, token, station_id, key, id_tag):
    ws_base = base.replace("http://", "ws://") + "/ocpp/"
    url = ws_base + station_id

    # Refused at the handshake: wrong key, another station's id in the credentials, an
    # unknown station, a subprotocol this server does not speak.
    assert await refused_handshake(url, auth_header(station_id, "wrong-key-0000000000")) == 401
    assert await refused_handshake(url, auth_header("CS-310100-01", key)) == 401
    assert await refused_handshake(ws_base + "NO-SUCH-STATION", auth_header("NO-SUCH-STATION", key)) == 404
    assert await refused_handshake(url, auth_header(station_id, key), "ocpp0.1") == 400

    async with websockets.connect(url, subprotocols=["ocpp1.6"], additional_headers=auth_header(station_id, key)) as ws:
        assert ws.subprotocol == "ocpp1.6", ws.subprotocol
        station = Station(station_id, ws)
        station.stop_requested = asyncio.get_running_loop().create_future()
        listener = asyncio.create_task(station.start())

        boot = await station.call(call.BootNotification(charge_point_model="SIM-120", charge_point_vendor="YRD-Interop"))
        assert boot.status == RegistrationStatus.accepted, boot
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError", status=ChargePointStatus.available))
        authorised = await station.call(call.Authorize(id_tag=id_tag))
        assert authorised.id_tag_info["status"] == AuthorizationStatus.accepted, authorised
        blocked = await station.call(call.Authorize(id_tag="NOBODY"))
        assert blocked.id_tag_info["status"] == AuthorizationStatus.invalid, blocked
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError", status=ChargePointStatus.charging))
        started = await station.call(call.StartTransaction(connector_id=1, id_tag=id_tag, meter_start=1000, timestamp="2026-11-28T10:00:00Z"))
        transaction = started.transaction_id
        for wh in ("5000", "13345"):
            await station.call(call.MeterValues(connector_id=1, transaction_id=transaction, meter_value=[
                {"timestamp": "2026-11-28T10:10:00Z", "sampledValue": [{"value": wh, "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]))
        near = json.loads(urllib.request.urlopen(base + "/api/v1/charging/nearby?lon=121.4737&lat=31.2304&radius_km=1").read())
        assert any(c["station_id"] == station_id and c["connector_id"] == 1 and c["status"] == "Charging" for c in near), near

        # The operator stops the session from the REST API; the command reaches the station.
        status, answer = await asyncio.to_thread(rest, base, "POST", f"/api/v1/charging/stations/{station_id}/commands", token,
                                                 {"action": "RemoteStopTransaction", "payload": {"connectorId": 1}})
        assert status == 200 and answer["status"] == "Accepted", (status, answer)
        assert await asyncio.wait_for(station.stop_requested, 5) == transaction
        stopped = await station.call(call.StopTransaction(meter_stop=13345, timestamp="2026-11-28T10:20:00Z", transaction_id=transaction, reason="Remote"))
        assert stopped.id_tag_info["status"] == AuthorizationStatus.accepted, stopped
        await station.call(call.StatusNotification(connector_id=1, error_code="NoError", status=ChargePointStatus.available))

        status, cdrs = await asyncio.to_thread(rest, base, "GET", "/api/v1/charging/cdrs", token)
        cdr = next(c for c in cdrs if c["session_id"] == transaction)
        # op-grid (demo): 0.75 yuan/kWh energy + 0.60 yuan/kWh service; 12,345 Wh.
        assert (cdr["energy_wh"], cdr["energy_fen"], cdr["service_fen"], cdr["idle_fen"], cdr["total_fen"]) == (12345, 926, 741, 0, 1667), cdr

        # Errors the protocol defines, the connection staying up after each.
        listener.cancel()
        async def raw(frame):
            await ws.send(frame)
            return json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (await raw("not json"))[:3] == [4, "-1", "FormationViolation"]
        assert (await raw('[2,"e2","Teleport",{}]'))[:3] == [4, "e2", "NotImplemented"]
        assert (await raw('[2,"e3","StartTransaction",{"connectorId":1}]'))[:3] == [4, "e3", "OccurenceConstraintViolation"]
        assert (await raw('[2,"e4","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Asleep"}]'))[:3] == [4, "e4", "TypeConstraintViolation"]
        assert (await raw('[7,"e5","Heartbeat",{}]'))[:3] == [4, "e5", "ProtocolError"]
        assert (await raw('[2,"e6","StopTransaction",{"meterStop":1,"timestamp":"2026-11-28T10:30:00Z","transactionId":999999}]'))[:3] == [4, "e6", "PropertyConstraintViolation"]
        assert (await raw('[2,"e7","Heartbeat",{"padding":"' + "x" * 70000 + '"}]'))[:3] == [4, "-1", "FormationViolation"]
        # The same message id twice gets the same answer, processed once.
        first = await raw('[2,"dup-1","Heartbeat",{}]')
        again = await raw('[2,"dup-1","Heartbeat",{}]')
        assert first == again and first[0] == 3, (first, again)
        # A flood is told to slow down, and the station is still served afterwards.
        for n in range(60):
            await ws.send(f'[2,"f{n}","Heartbeat",{{}}]')
        replies = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(60)]
        assert any(r[0] == 4 and r[2] == "GenericError" for r in replies), replies[-3:]
        await asyncio.sleep(1.1)
        assert (await raw('[2,"after","Heartbeat",{}]'))[0] == 3

    print(f"OCPP 1.6 session {transaction} by the Python ocpp package: boot, authorise, start, meter values, "
          f"remote stop from the REST API, stop; CDR {cdr['energy_wh']} Wh = {cdr['total_fen']} fen; protocol errors refused, connection kept")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
