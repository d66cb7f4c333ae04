"""Requests the central system sends to an OCPP 2.0.1 station: the same API as the 1.6
``ChargerRequests`` (the control loop and the operator API need not know the version), plus
the device-model requests 2.0.1 has instead of 1.6 configuration keys.

Integer transaction ids are the site's internal session keys; they become the station's own
string ids here.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from ocpp.v201 import call

from controller.ocpp.errors import ChargerRequestError
from controller.ocpp.outbound import ChargerRequests
from controller.ocpp.v201_profiles import PURPOSES, ProfileNotApplicable, profile_v201

# 1.6 TriggerMessage names with another name in 2.0.1
_TRIGGERS = {"DiagnosticsStatusNotification": "LogStatusNotification"}
_request_ids = itertools.count(1)

Variable = tuple[str, str] | tuple[str, str, str]  # (component, variable[, instance])


def _variable_ref(ref: Variable) -> dict[str, Any]:
    variable: dict[str, Any] = {"name": ref[1]}
    if len(ref) > 2:
        variable["instance"] = ref[2]
    return {"component": {"name": ref[0]}, "variable": variable}


class V201Requests(ChargerRequests):
    """Outbound requests to one 2.0.1 station (``charge_point`` is its connection)."""

    def _station_tx(self, transaction_id: int) -> str:
        site = self._cp.central.site
        session = site.sessions.get(transaction_id) or site.closed_sessions.get(transaction_id)
        if session is None or not session.ocpp_transaction_id:
            raise ChargerRequestError(
                self.charger_id, "transaction", f"no 2.0.1 transaction for session {transaction_id}"
            )
        return session.ocpp_transaction_id

    def _capabilities(self) -> Any:
        return self._cp.central.site.charger(self.charger_id).capabilities

    # device model ------------------------------------------------------------------------
    async def get_variables(self, refs: list[Variable]) -> Any:
        return await self._request(
            call.GetVariables(get_variable_data=[_variable_ref(r) for r in refs])
        )

    async def set_variables(self, values: list[tuple[Variable, str]]) -> Any:
        data = [{**_variable_ref(ref), "attribute_value": value} for ref, value in values]
        return await self._request(call.SetVariables(set_variable_data=data))

    async def get_base_report(self, report_base: str = "FullInventory") -> Any:
        return await self._request(
            call.GetBaseReport(request_id=next(_request_ids), report_base=report_base)
        )

    async def get_configuration(self, keys: list[str] | None = None) -> Any:
        raise ChargerRequestError(
            self.charger_id, "GetConfiguration", "OCPP 2.0.1: use get_variables"
        )

    async def change_configuration(self, key: str, value: str) -> Any:
        raise ChargerRequestError(
            self.charger_id, "ChangeConfiguration", "OCPP 2.0.1: use set_variables"
        )

    # smart charging ----------------------------------------------------------------------
    async def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> Any:
        """``profile`` in the 1.6 shape the loop builds (see ``v201_profiles``)."""
        tx = profile.get("transaction_id")
        try:
            translated = profile_v201(
                profile,
                transaction_id=self._station_tx(int(tx)) if tx is not None else None,
                capabilities=self._capabilities(),
            )
        except ProfileNotApplicable as exc:
            raise ChargerRequestError(self.charger_id, "SetChargingProfile", str(exc)) from exc
        return await self._request(
            call.SetChargingProfile(evse_id=connector_id, charging_profile=translated)
        )

    async def clear_charging_profile(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> Any:
        criteria = {
            "evse_id": connector_id,
            "charging_profile_purpose": PURPOSES.get(purpose, purpose) if purpose else None,
            "stack_level": stack_level,
        }
        criteria = {k: v for k, v in criteria.items() if v is not None}
        return await self._request(
            call.ClearChargingProfile(
                charging_profile_id=profile_id, charging_profile_criteria=criteria or None
            )
        )

    async def get_charging_profiles(self, connector_id: int | None = None) -> Any:
        return await self._request(
            call.GetChargingProfiles(
                request_id=next(_request_ids),
                charging_profile={"charging_limit_source": ["CSO"]},
                evse_id=connector_id,
            )
        )

    async def get_composite_schedule(
        self, connector_id: int, duration_s: int, rate_unit: str | None = None
    ) -> Any:
        return await self._request(
            call.GetCompositeSchedule(
                duration=duration_s, evse_id=connector_id, charging_rate_unit=rate_unit
            )
        )

    # transactions and the station --------------------------------------------------------
    async def remote_start_transaction(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
    ) -> Any:
        profile = None
        if charging_profile is not None:
            profile = profile_v201(
                charging_profile,
                transaction_id=None,
                capabilities=self._capabilities(),
                starting=True,
            )
        return await self._request(
            call.RequestStartTransaction(
                id_token={"id_token": id_tag, "type": "Central"},
                remote_start_id=next(_request_ids),
                evse_id=connector_id,
                charging_profile=profile,
            )
        )

    async def remote_stop_transaction(self, transaction_id: int) -> Any:
        return await self._request(
            call.RequestStopTransaction(transaction_id=self._station_tx(transaction_id))
        )

    async def trigger_message(self, requested_message: str, connector_id: int | None = None) -> Any:
        message = _TRIGGERS.get(requested_message, requested_message)
        evse = None
        if connector_id:
            evse = {"id": connector_id}
            if message == "StatusNotification":
                evse["connector_id"] = 1
        return await self._request(call.TriggerMessage(requested_message=message, evse=evse))

    async def change_availability(self, connector_id: int, availability: str) -> Any:
        return await self._request(
            call.ChangeAvailability(
                operational_status=availability,
                evse={"id": connector_id} if connector_id else None,
            )
        )

    async def reset(self, kind: str = "Soft") -> Any:
        """1.6 ``Soft``/``Hard`` both end the transactions now: ``Immediate``; or ``OnIdle``."""
        return await self._request(call.Reset(type="OnIdle" if kind == "OnIdle" else "Immediate"))

    async def unlock_connector(self, connector_id: int) -> Any:
        return await self._request(call.UnlockConnector(evse_id=connector_id, connector_id=1))

    async def update_firmware(self, location: str, retrieve_utc: datetime) -> Any:
        retrieve = retrieve_utc.isoformat().replace("+00:00", "Z")
        return await self._request(
            call.UpdateFirmware(
                request_id=next(_request_ids),
                firmware={"location": location, "retrieve_date_time": retrieve},
            )
        )

    async def upload_log(self, location: str) -> Any:
        return await self._request(
            call.GetLog(
                log={"remote_location": location},
                log_type="DiagnosticsLog",
                request_id=next(_request_ids),
            )
        )
