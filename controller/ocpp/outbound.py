"""Requests the central system sends to a charger, as an API for the rest of the controller.

Each returns the charger's answer (the ``ocpp`` package's call_result dataclass) or raises
``ChargerTimeout`` / ``ChargerCallError`` with the charger id and action in the message.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from controller.ocpp.errors import ChargerCallError, ChargerRequestError, ChargerTimeout


class ChargerRequests:
    def __init__(self, charge_point: Any) -> None:
        self._cp = charge_point

    @property
    def charger_id(self) -> str:
        return str(self._cp.id)

    async def _request(self, payload: Any) -> Any:
        action = type(payload).__name__
        try:
            return await self._cp.call(payload, suppress=False)
        except TimeoutError as exc:
            raise ChargerTimeout(self.charger_id, action, "no answer within the timeout") from exc
        except OCPPError as exc:
            raise ChargerCallError(self.charger_id, action, exc) from exc
        except ChargerRequestError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # connection closed, unknown error code, bad answer
            raise ChargerRequestError(
                self.charger_id, action, f"{type(exc).__name__}: {exc}"
            ) from exc

    async def get_configuration(self, keys: list[str] | None = None) -> Any:
        return await self._request(call.GetConfiguration(key=keys))

    async def change_configuration(self, key: str, value: str) -> Any:
        return await self._request(call.ChangeConfiguration(key=key, value=value))

    async def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> Any:
        return await self._request(
            call.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=profile)
        )

    async def clear_charging_profile(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> Any:
        return await self._request(
            call.ClearChargingProfile(
                id=profile_id,
                connector_id=connector_id,
                charging_profile_purpose=purpose,
                stack_level=stack_level,
            )
        )

    async def get_composite_schedule(
        self, connector_id: int, duration_s: int, rate_unit: str | None = None
    ) -> Any:
        return await self._request(
            call.GetCompositeSchedule(
                connector_id=connector_id, duration=duration_s, charging_rate_unit=rate_unit
            )
        )

    async def remote_start_transaction(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
    ) -> Any:
        return await self._request(
            call.RemoteStartTransaction(
                id_tag=id_tag, connector_id=connector_id, charging_profile=charging_profile
            )
        )

    async def remote_stop_transaction(self, transaction_id: int) -> Any:
        return await self._request(call.RemoteStopTransaction(transaction_id=transaction_id))

    async def trigger_message(self, requested_message: str, connector_id: int | None = None) -> Any:
        return await self._request(
            call.TriggerMessage(requested_message=requested_message, connector_id=connector_id)
        )

    async def change_availability(self, connector_id: int, availability: str) -> Any:
        return await self._request(
            call.ChangeAvailability(connector_id=connector_id, type=availability)
        )

    async def reset(self, kind: str = "Soft") -> Any:
        return await self._request(call.Reset(type=kind))

    async def unlock_connector(self, connector_id: int) -> Any:
        return await self._request(call.UnlockConnector(connector_id=connector_id))
