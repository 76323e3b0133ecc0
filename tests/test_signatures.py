"""Webhook signatures: each scheme accepts the real thing and refuses everything else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from incident_flow import InvalidPayload, InvalidSignature
from incident_flow.ingest import SIGNED_SOURCES, verify_signature
from incident_flow.ingest.signatures import REPLAY_WINDOW, verify

NOW = datetime(2025, 6, 3, 14, 2, 11, tzinfo=UTC)
TS = str(int(NOW.timestamp()))
BODY = b'{"status":"firing","title":"Checkout 5xx \\u0026 latency"}'
SECRET = "s3cr3t-signing-key"  # noqa: S105 - a test key
WHSEC = "whsec_" + base64.b64encode(b"incident.io signing key bytes").decode()
#: Opsgenie signs nothing (a shared token in a header is all it can send): the rest sign bodies.
BODY_SIGNED = [source for source in SIGNED_SOURCES if source != "opsgenie"]


def hexmac(message: bytes, key: bytes = SECRET.encode()) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed(source: str, body: bytes = BODY) -> tuple[dict[str, str], str]:  # noqa: PLR0911 - one scheme each
    """Headers a genuine sender would send, and the secret to check them with."""
    if source == "slack":
        return {
            "X-Slack-Request-Timestamp": TS,
            "X-Slack-Signature": "v0=" + hexmac(b"v0:" + TS.encode() + b":" + body),
        }, SECRET
    if source == "checkly":
        return {"x-checkly-signature": hexmac(body), "x-checkly-timestamp": TS}, SECRET
    if source == "grafana":
        return {"X-Grafana-Alert-Signature": hexmac(body)}, SECRET
    if source == "pagerduty":
        return {"X-PagerDuty-Signature": f"v1=deadbeef, v1={hexmac(body)}"}, SECRET
    if source == "github":
        return {"X-Hub-Signature-256": "sha256=" + hexmac(body)}, SECRET
    if source == "jira":
        return {"X-Hub-Signature": "sha256=" + hexmac(body)}, SECRET
    if source == "opsgenie":
        return {"X-Incident-Flow-Token": SECRET}, SECRET
    if source == "incident_flow":
        return {
            "X-Incident-Flow-Timestamp": TS,
            "X-Incident-Flow-Signature": "v1=" + hexmac(TS.encode() + b"." + body),
        }, SECRET
    key = base64.b64decode(WHSEC.removeprefix("whsec_"))
    mac = hmac.new(key, f"msg_1.{TS}.".encode() + body, hashlib.sha256).digest()
    sig = base64.b64encode(mac).decode()
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": TS,
        "webhook-signature": f"v1,bm90IGl0 v1,{sig}",
    }, WHSEC


class TestEachScheme:
    """Genuine requests pass; a changed body, a wrong secret or no header does not."""

    @pytest.mark.parametrize("source", SIGNED_SOURCES)
    def test_genuine(self, source: str) -> None:
        headers, secret = signed(source)
        assert verify_signature(source, BODY, headers, secret, now=NOW) is None
        lower = {k.lower(): v for k, v in headers.items()}
        assert verify_signature(source, BODY.decode(), lower, secret, now=NOW) is None

    @pytest.mark.parametrize("source", BODY_SIGNED)
    def test_tampered_body(self, source: str) -> None:
        headers, secret = signed(source)
        with pytest.raises(InvalidSignature, match=f"{source}: .*(match|matches)"):
            verify_signature(source, BODY + b" ", headers, secret, now=NOW)

    @pytest.mark.parametrize("source", SIGNED_SOURCES)
    def test_wrong_secret(self, source: str) -> None:
        headers, _ = signed(source)
        other = "whsec_" + base64.b64encode(b"other").decode() if source == "incidentio" else "x"
        with pytest.raises(InvalidSignature):
            verify_signature(source, BODY, headers, other, now=NOW)

    @pytest.mark.parametrize("source", SIGNED_SOURCES)
    def test_missing_headers(self, source: str) -> None:
        _, secret = signed(source)
        missing = "the shared token header" if source == "opsgenie" else "missing signature header"
        with pytest.raises(InvalidSignature, match=missing):
            verify_signature(source, BODY, {}, secret, now=NOW)
        with pytest.raises(InvalidSignature, match=missing):
            verify_signature(source, BODY, None, secret, now=NOW)

    @pytest.mark.parametrize("source", SIGNED_SOURCES)
    def test_no_secret(self, source: str) -> None:
        headers, _ = signed(source)
        with pytest.raises(InvalidSignature, match="no secret configured"):
            verify_signature(source, BODY, headers, "", now=NOW)

    def test_is_an_invalid_payload(self) -> None:
        assert issubclass(InvalidSignature, InvalidPayload)

    def test_unknown_scheme(self) -> None:
        with pytest.raises(InvalidSignature, match="'datadog' has no signature scheme"):
            verify_signature("datadog", BODY, {}, SECRET)


class TestReplayWindow:
    """Schemes that sign a timestamp refuse requests more than five minutes off."""

    @pytest.mark.parametrize("source", ["slack", "incidentio", "incident_flow"])
    @pytest.mark.parametrize("skew", [timedelta(minutes=-6), timedelta(minutes=6)])
    def test_too_old_or_too_new(self, source: str, skew: timedelta) -> None:
        headers, secret = signed(source)
        with pytest.raises(InvalidSignature, match="refused as a replay"):
            verify_signature(source, BODY, headers, secret, now=NOW + skew)

    @pytest.mark.parametrize("source", ["slack", "incidentio"])
    def test_inside_the_window(self, source: str) -> None:
        headers, secret = signed(source)
        verify_signature(source, BODY, headers, secret, now=NOW + timedelta(minutes=4))

    def test_unsigned_checkly_timestamp_is_not_a_replay_check(self) -> None:
        headers, secret = signed("checkly")
        verify_signature("checkly", BODY, headers, secret, now=NOW + timedelta(hours=1))

    def test_garbage_timestamp(self) -> None:
        headers, secret = signed("slack")
        headers["X-Slack-Request-Timestamp"] = "yesterday"
        with pytest.raises(InvalidSignature, match="not unix seconds"):
            verify_signature("slack", BODY, headers, secret, now=NOW)

    def test_default_now_is_the_clock(self) -> None:
        headers, secret = signed("slack")
        with pytest.raises(InvalidSignature, match="replay"):
            verify_signature("slack", BODY, headers, secret)  # NOW is long past


class TestSchemeDetails:
    """Header spellings, timestamps, secret formats and several signatures."""

    def test_grafana_both_header_spellings_and_a_custom_one(self) -> None:
        for name in ("X-Grafana-Alerting-Signature", "X-Grafana-Alert-Signature"):
            verify_signature("grafana", BODY, {name: hexmac(BODY)}, SECRET, now=NOW)
        verify_signature("grafana", BODY, {"X-Sig": hexmac(BODY)}, SECRET, header="X-Sig")
        with pytest.raises(InvalidSignature, match=r"missing signature header \(X-Sig"):
            verify_signature(
                "grafana", BODY, {"X-Grafana-Alert-Signature": hexmac(BODY)}, SECRET, header="X-Sig"
            )

    def test_grafana_with_a_timestamp_header(self) -> None:
        headers = {
            "X-Grafana-Alert-Signature": hexmac(TS.encode() + b":" + BODY),
            "X-Grafana-Alert-Timestamp": TS,
        }
        verify_signature(
            "grafana", BODY, headers, SECRET, now=NOW, timestamp_header="X-Grafana-Alert-Timestamp"
        )
        with pytest.raises(InvalidSignature, match="does not match"):
            verify_signature("grafana", BODY, headers, SECRET, now=NOW)  # body-only scheme
        with pytest.raises(InvalidSignature, match="replay"):
            verify_signature(
                "grafana",
                BODY,
                headers,
                SECRET,
                now=NOW + timedelta(minutes=10),
                timestamp_header="X-Grafana-Alert-Timestamp",
            )

    def test_slack_needs_the_v0_prefix(self) -> None:
        headers, secret = signed("slack")
        headers["X-Slack-Signature"] = headers["X-Slack-Signature"][3:]
        with pytest.raises(InvalidSignature, match="must start with v0="):
            verify_signature("slack", BODY, headers, secret, now=NOW)

    def test_incidentio_secret_must_be_base64(self) -> None:
        headers, _ = signed("incidentio")
        with pytest.raises(InvalidSignature, match="not a whsec_<base64>"):
            verify_signature("incidentio", BODY, headers, "whsec_***not base64***", now=NOW)

    def test_incidentio_only_v1_signatures_count(self) -> None:
        headers, secret = signed("incidentio")
        headers["webhook-signature"] = headers["webhook-signature"].replace("v1,", "v2,")
        with pytest.raises(InvalidSignature, match="no v1 signature matches"):
            verify_signature("incidentio", BODY, headers, secret, now=NOW)

    def test_pagerduty_rotation_any_of_several(self) -> None:
        headers = {"X-PagerDuty-Signature": f"v1={hexmac(BODY)},v1=00ff"}
        verify_signature("pagerduty", BODY, headers, SECRET)
        with pytest.raises(InvalidSignature, match="no v1= signature"):
            verify_signature("pagerduty", BODY, {"X-PagerDuty-Signature": "v2=ab"}, SECRET)

    @given(body=st.binary(max_size=200), signature=st.text(max_size=80))
    def test_arbitrary_signatures_never_pass_or_crash(self, body: bytes, signature: str) -> None:
        for source in SIGNED_SOURCES:
            headers = {
                "X-Slack-Request-Timestamp": TS,
                "X-Slack-Signature": signature,
                "x-checkly-signature": signature,
                "X-Grafana-Alert-Signature": signature,
                "webhook-id": "m",
                "webhook-timestamp": TS,
                "webhook-signature": signature,
                "X-PagerDuty-Signature": signature,
                "X-Incident-Flow-Timestamp": TS,
                "X-Incident-Flow-Signature": signature,
            }
            with pytest.raises(InvalidSignature):
                verify_signature(source, body, headers, WHSEC, now=NOW)


class TestOpsgenieToken:
    """Opsgenie cannot sign: its webhook integration sends a custom header with a shared token."""

    def test_the_default_header_holds_the_token(self) -> None:
        headers = {"X-Incident-Flow-Token": SECRET}
        assert verify_signature("opsgenie", BODY, headers, SECRET) is None

    def test_another_header_can_be_named_and_bearer_is_read(self) -> None:
        headers = {"Authorization": f"Bearer {SECRET}"}
        assert verify_signature("opsgenie", BODY, headers, SECRET, header="Authorization") is None
        with pytest.raises(
            InvalidSignature, match="opsgenie: the shared token header X-Incident-Flow-Token is"
        ):
            verify_signature("opsgenie", BODY, headers, SECRET)

    def test_a_wrong_or_non_ascii_token_is_refused(self) -> None:
        for token in ("nope", SECRET + "x", "s\u00e9cret", "\udcff"):
            with pytest.raises(InvalidSignature, match="does not hold the shared token"):
                verify_signature("opsgenie", BODY, {"X-Incident-Flow-Token": token}, SECRET)


class TestGitHub:
    """GitHub's X-Hub-Signature-256 is sha256= and the hex HMAC of the body."""

    def test_the_prefix_is_required(self) -> None:
        headers = {"X-Hub-Signature-256": hexmac(BODY)}
        with pytest.raises(InvalidSignature, match="must start with sha256="):
            verify_signature("github", BODY, headers, SECRET)

    def test_the_legacy_sha1_header_alone_is_refused(self) -> None:
        headers = {"X-Hub-Signature": "sha1=" + hmac.new(b"k", BODY, "sha1").hexdigest()}
        with pytest.raises(InvalidSignature, match="X-Hub-Signature-256"):
            verify_signature("github", BODY, headers, SECRET)


def refusal(source: str, body: object, headers: dict[str, str] | None, secret: str | bytes) -> str:
    """The InvalidSignature text for one request (it must be refused)."""
    with pytest.raises(InvalidSignature) as caught:
        verify(source, body, headers, secret, now=NOW)  # type: ignore[arg-type]
    return str(caught.value)


class TestWhatARefusalSays:
    """A refusal names the source and the header as the vendor spells it (issue 33)."""

    @pytest.mark.parametrize("source", ["slack", "checkly", "pagerduty", "github", "incident_flow",
                                        "incidentio"])  # fmt: skip
    def test_each_missing_header_is_named(self, source: str) -> None:
        headers, secret = signed(source)
        for name in headers:
            if name == "x-checkly-timestamp":
                continue  # Checkly sends it, unsigned: nothing needs it
            without = {k: v for k, v in headers.items() if k != name}
            assert refusal(source, BODY, without, secret) == (
                f"{source}: missing signature header {name}"
            )
            blank = {**headers, name: "  "}
            assert refusal(source, BODY, blank, secret) == (
                f"{source}: missing signature header {name}"
            )

    def test_grafana_names_its_headers_and_its_timestamp_header(self) -> None:
        assert refusal("grafana", BODY, {}, SECRET) == (
            "grafana: missing signature header "
            "(X-Grafana-Alerting-Signature or X-Grafana-Alert-Signature)"
        )
        headers = {"X-Grafana-Alert-Signature": hexmac(TS.encode() + b":" + BODY)}
        with pytest.raises(InvalidSignature) as caught:
            verify("grafana", BODY, headers, SECRET, now=NOW, options={"timestamp_header": "X-Ts"})
        assert str(caught.value) == "grafana: missing signature header X-Ts"

    @pytest.mark.parametrize(
        ("source", "header", "options"),
        [
            ("slack", "X-Slack-Request-Timestamp", {}),
            ("incident_flow", "X-Incident-Flow-Timestamp", {}),
            ("incidentio", "webhook-timestamp", {}),
            ("grafana", "X-Ts", {"timestamp_header": "X-Ts"}),
        ],
    )
    def test_a_stale_or_garbled_timestamp_names_the_source(
        self, source: str, header: str, options: dict[str, str]
    ) -> None:
        headers, secret = signed(source)
        headers[header] = TS
        late = NOW + timedelta(minutes=6)
        with pytest.raises(InvalidSignature) as caught:
            verify(source, BODY, headers, secret, now=late, options=options)
        assert str(caught.value) == (
            f"{source}: signature timestamp is 360 s away from now (more than 300 s): "
            "refused as a replay"
        )
        headers[header] = "soon"
        with pytest.raises(InvalidSignature) as caught:
            verify(source, BODY, headers, secret, now=NOW, options=options)
        assert str(caught.value) == f"{source}: signature timestamp 'soon' is not unix seconds"

    def test_scheme_refusals_word_for_word(self) -> None:
        assert refusal("pagerduty", BODY, {"X-PagerDuty-Signature": "v2=ab"}, SECRET) == (
            "pagerduty: X-PagerDuty-Signature has no v1= signature"
        )
        assert refusal("github", BODY, {"X-Hub-Signature-256": hexmac(BODY)}, SECRET) == (
            "github: X-Hub-Signature-256 must start with sha256="
        )
        assert refusal("jira", BODY, {"X-Hub-Signature": hexmac(BODY)}, SECRET) == (
            "jira: X-Hub-Signature must start with sha256="
        )
        headers, secret = signed("incident_flow")
        headers["X-Incident-Flow-Signature"] = headers["X-Incident-Flow-Signature"][3:]
        assert refusal("incident_flow", BODY, headers, secret) == (
            "incident_flow: X-Incident-Flow-Signature must start with v1="
        )
        headers, secret = signed("slack")
        assert refusal("slack", BODY + b"!", headers, secret) == (
            "slack: signature does not match the body"
        )
        headers, secret = signed("incidentio")
        assert refusal("incidentio", BODY + b"!", headers, secret) == (
            "incidentio: no v1 signature matches the body"
        )
        assert refusal("incidentio", BODY, headers, "whsec_***") == (
            "incidentio: the secret is not a whsec_<base64> signing secret"
        )
        assert refusal("datadog", BODY, {}, SECRET) == (
            "'datadog' has no signature scheme here; these do: "
            "checkly, github, grafana, incident_flow, incidentio, jira, opsgenie, pagerduty, slack"
        )
        assert refusal("slack", {"a": 1}, {}, SECRET) == (
            "slack: the raw body (bytes or text) is needed to check a signature"
        )

    def test_a_shared_token_refusal_names_the_source_it_stands_for(self) -> None:
        """The server checks Datadog's and Alertmanager's shared token under their own name."""
        with pytest.raises(InvalidSignature) as caught:
            verify("opsgenie", BODY, {}, SECRET, now=NOW, options={"source": "datadog"})
        assert (
            str(caught.value) == "datadog: the shared token header X-Incident-Flow-Token is missing"
        )
        with pytest.raises(InvalidSignature) as caught:
            verify(
                "opsgenie", BODY, {"X-Incident-Flow-Token": "x"}, SECRET, options={"source": "am"}
            )
        assert (
            str(caught.value)
            == "am: the X-Incident-Flow-Token header does not hold the shared token"
        )


class TestEdgesOfTheChecks:
    """Where a check's boundary is, pinned (issue 33)."""

    @pytest.mark.parametrize("source", ["slack", "incidentio", "incident_flow"])
    def test_exactly_five_minutes_away_is_still_fresh(self, source: str) -> None:
        headers, secret = signed(source)
        for skew in (REPLAY_WINDOW, -REPLAY_WINDOW):
            verify(source, BODY, headers, secret, now=NOW + skew)
        second = timedelta(seconds=1)
        for skew in (REPLAY_WINDOW + second, -REPLAY_WINDOW - second):
            with pytest.raises(InvalidSignature, match="refused as a replay"):
                verify(source, BODY, headers, secret, now=NOW + skew)

    def test_a_naive_now_is_utc_and_an_aware_one_keeps_its_offset(self) -> None:
        headers, secret = signed("slack")
        verify("slack", BODY, headers, secret, now=NOW.replace(tzinfo=None))
        verify("slack", BODY, headers, secret, now=NOW.astimezone(timezone(timedelta(hours=2))))
        verify("slack", BODY, headers, secret, now=NOW.astimezone(timezone(-timedelta(hours=7))))

    def test_the_default_now_is_utc_on_a_machine_in_another_zone(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        try:
            stamp = str(int(time.time()))
            headers = {
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": "v0=" + hexmac(b"v0:" + stamp.encode() + b":" + BODY),
            }
            verify("slack", BODY, headers, SECRET)
        finally:
            monkeypatch.undo()
            time.tzset()

    def test_a_secret_or_body_given_as_bytes_is_used_as_is(self) -> None:
        headers, secret = signed("slack")
        verify("slack", bytearray(BODY), headers, secret.encode(), now=NOW)
        verify("slack", memoryview(BODY), headers, secret.encode(), now=NOW)

    def test_a_header_with_a_lone_surrogate_is_refused_not_a_crash(self) -> None:
        headers, secret = signed("slack")
        headers["X-Slack-Signature"] = "v0=\udcff" + headers["X-Slack-Signature"][4:]
        assert refusal("slack", BODY, headers, secret) == "slack: signature does not match the body"

    def test_incidentio_any_v1_signature_matches_wherever_it_is(self) -> None:
        headers, secret = signed("incidentio")
        good = headers["webhook-signature"].split()[-1]
        for listed in (f"{good} v1,bm90IGl0", f"v1,bm90IGl0 {good}", f"v2,x {good} v1,eA=="):
            verify("incidentio", BODY, {**headers, "webhook-signature": listed}, secret, now=NOW)

    def test_incidentio_a_signature_is_all_after_the_first_comma(self) -> None:
        headers, secret = signed("incidentio")
        sig = headers["webhook-signature"].split()[-1].removeprefix("v1,")
        for listed in (f"v1,{sig},x", f"v1,x,{sig}"):
            assert refusal(
                "incidentio", BODY, {**headers, "webhook-signature": listed}, secret
            ) == ("incidentio: no v1 signature matches the body")

    def test_incidentio_a_secret_that_is_not_strict_base64_is_refused(self) -> None:
        """A stray character is not skipped (the key would be read from the rest)."""
        headers, secret = signed("incidentio")
        for bad in (
            secret + "!",
            secret.replace("whsec_", "whsec_ "),
            b"\xff\xfe" + secret.encode(),
        ):
            assert refusal("incidentio", BODY, headers, bad) == (
                "incidentio: the secret is not a whsec_<base64> signing secret"
            )

    def test_only_the_authorization_header_drops_bearer(self) -> None:
        headers = {"X-Incident-Flow-Token": f"Bearer {SECRET}"}
        assert refusal("opsgenie", BODY, headers, SECRET) == (
            "opsgenie: the X-Incident-Flow-Token header does not hold the shared token"
        )
