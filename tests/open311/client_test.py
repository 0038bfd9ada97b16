#!/usr/bin/env python3
"""An outside Open311 client against a running linli: the PyPI package georeport (0.3.1).

Run by crates/server/tests/open311.rs against the app it starts, or by hand:

    python3 tests/open311/client_test.py --base http://127.0.0.1:8080 --api-key KEY

(or LINLI_OPEN311_BASE and LINLI_OPEN311_KEY in the environment). The point given by --lat and
--long must lie inside the district linli serves; the default is by 清波门 in 上城区, where the
Rust test has registered a building.

georeport wraps the reads only: the service list, a service definition, the request list and
one request, in JSON or XML. It has no discovery, no POST and no token lookup, so those are
made with `requests` (which georeport itself uses) against the same root address. Its XML
request list also breaks on an empty list (it indexes `None`); `xml_requests` below says so
rather than patching the library.

Prints one line per check and "N passed, N failed" at the end; exits 1 on any failure.
"""

import argparse
import os
import sys
import traceback
from datetime import datetime, timedelta, timezone

import requests
import xmltodict
from georeport import GeoReport

PASSED = []
FAILED = []


def check(name):
    """Runs the decorated function at once as one named check."""

    def run(fn):
        try:
            fn()
        except Exception:  # noqa: BLE001 - every failure is reported, then the next check runs
            FAILED.append(name)
            print(f"FAIL {name}")
            traceback.print_exc()
        else:
            PASSED.append(name)
            print(f"ok   {name}")
        return fn

    return run


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def as_list(x):
    """xmltodict gives a dict for one child element and a list for several."""
    if x is None:
        return []
    return x if isinstance(x, list) else [x]


def xml_requests(client, **filters):
    """georeport's XML request list, or [] where georeport itself fails on an empty list:
    `<service_requests/>` parses to None and georeport indexes it."""
    try:
        return as_list(client.get_service_requests(**filters))
    except TypeError:
        return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default=os.environ.get("LINLI_OPEN311_BASE"), help="linli's address, e.g. http://127.0.0.1:8080")
    ap.add_argument("--api-key", default=os.environ.get("LINLI_OPEN311_KEY"), help="a key from `linli apikey add`")
    ap.add_argument("--lat", type=float, default=30.2420)
    ap.add_argument("--long", type=float, default=120.1640)
    args = ap.parse_args()
    if not args.base or not args.api_key:
        ap.error("give --base and --api-key (or LINLI_OPEN311_BASE and LINLI_OPEN311_KEY)")
    root = args.base.rstrip("/") + "/open311/v2"

    client = GeoReport(root, api_key=args.api_key)
    xml_client = GeoReport(root, api_key=args.api_key, output_format="xml")
    state = {}

    @check("discovery names GeoReport v2 at this address, in XML and JSON")
    def _():
        r = requests.get(f"{root}/discovery.json", timeout=30)
        r.raise_for_status()
        d = r.json()
        ep = d["endpoints"][0]
        expect(ep["specification"] == "http://wiki.open311.org/GeoReport_v2", ep)
        expect(ep["url"] == root, (ep["url"], root))
        expect(set(ep["formats"]) == {"text/xml", "application/json"}, ep["formats"])
        x = xmltodict.parse(requests.get(f"{root}/discovery.xml", timeout=30).content)["discovery"]
        expect(x["endpoints"]["endpoint"]["url"] == root, x)
        expect(as_list(x["endpoints"]["endpoint"]["formats"]["format"]) == ep["formats"], x)

    @check("the service list (georeport, JSON and XML)")
    def _():
        services = client.get_service_list()
        by_code = {s["service_code"]: s for s in services}
        lift = by_code["property.lift"]
        expect(lift["service_name"] == "电梯故障", lift)
        expect(lift["group"] == "物业管理", lift)
        expect(lift["metadata"] is True and lift["type"] == "realtime", lift)
        expect(by_code["env.dumping"]["metadata"] is False, by_code["env.dumping"])
        xml = {s["service_code"]: s for s in as_list(xml_client.get_service_list())}
        expect(set(xml) == set(by_code), "the XML list has the same services")
        expect(xml["property.lift"]["service_name"] == "电梯故障", xml["property.lift"])
        expect(xml["property.lift"]["metadata"] == "true", xml["property.lift"])
        state["services"] = by_code

    @check("a service definition (georeport, JSON and XML)")
    def _():
        d = client.get_service_definition("property.lift")
        expect(d["service_code"] == "property.lift", d)
        attrs = {a["code"]: a for a in d["attributes"]}
        expect(attrs["building_no"]["required"] is True and attrs["building_no"]["datatype"] == "string", attrs)
        trapped = attrs["people_trapped"]
        expect(trapped["datatype"] == "singlevaluelist", trapped)
        expect([v["key"] for v in trapped["values"]] == ["yes", "no"], trapped)
        x = xml_client.get_service_definition("property.lift")
        xattrs = {a["code"]: a for a in as_list(x["attributes"]["attribute"])}
        expect(xattrs["people_trapped"]["required"] == "true", xattrs)
        expect([v["key"] for v in as_list(xattrs["people_trapped"]["values"]["value"])] == ["yes", "no"], xattrs)

    @check("post a request (form-encoded, with attributes), get its token")
    def _():
        r = requests.post(
            f"{root}/requests.json",
            data={
                "api_key": args.api_key,
                "service_code": "property.lift",
                "lat": str(args.lat),
                "long": str(args.long),
                "address_string": "清波街 3幢",
                "description": "3幢2单元电梯停在5楼不动了",
                "attribute[building_no]": "3幢2单元",
                "attribute[people_trapped]": "no",
                "first_name": "小明",
                "last_name": "王",
                "phone": "13900001111",
            },
            timeout=30,
        )
        expect(r.status_code == 200, (r.status_code, r.text))
        expect(r.headers["content-type"].startswith("application/json"), r.headers)
        body = r.json()
        expect(isinstance(body, list) and len(body) == 1, body)
        created = body[0]
        expect(created["token"].startswith("SJ"), created)
        expect(created["service_request_id"].isdigit(), created)
        expect("SJ" in created["service_notice"], created)
        state["id"] = created["service_request_id"]
        state["token"] = created["token"]

    @check("the posted request, by id (georeport, JSON and XML), without the reporter")
    def _():
        got = client.get_service_request(state["id"])
        expect(got["service_request_id"] == state["id"], got)
        expect(got["status"] == "open", got)
        expect(got["service_code"] == "property.lift" and got["service_name"] == "电梯故障", got)
        expect(got["description"] == "3幢2单元电梯停在5楼不动了", got)
        expect(abs(got["lat"] - args.lat) < 1e-9 and abs(got["long"] - args.long) < 1e-9, got)
        expect(got["requested_datetime"].endswith("+08:00"), got)
        expect(got["agency_responsible"], got)
        raw = requests.get(f"{root}/requests/{state['id']}.json", timeout=30).text
        for secret in ("13900001111", "139****1111", "王小明"):
            expect(secret not in raw, f"{secret} is not published")
        x = xml_client.get_service_request(state["id"])
        expect(x["service_request_id"] == state["id"] and x["status"] == "open", x)
        expect(float(x["lat"]) == got["lat"] and x["description"] == got["description"], x)

    @check("the token leads to the request")
    def _():
        for fmt in ("json", "xml"):
            r = requests.get(f"{root}/tokens/{state['token']}.{fmt}", timeout=30)
            r.raise_for_status()
            if fmt == "json":
                item = r.json()[0]
            else:
                item = xmltodict.parse(r.content)["service_requests"]["request"]
            expect(item["service_request_id"] == state["id"] and item["token"] == state["token"], item)

    @check("the request list filtered by status and service code (georeport, JSON and XML)")
    def _():
        mine = client.get_service_requests(status="open", service_code="property.lift")
        expect(any(r["service_request_id"] == state["id"] for r in mine), "the open lift list has it")
        expect(all(r["status"] == "open" and r["service_code"] == "property.lift" for r in mine), mine)
        closed = client.get_service_requests(status="closed", service_code="property.lift")
        expect(all(r["service_request_id"] != state["id"] for r in closed), "not among the closed")
        other = client.get_service_requests(service_code="noise")
        expect(all(r["service_code"] == "noise" for r in other), other)
        by_id = client.get_service_requests(service_request_id=f"{state['id']},{state['token']}")
        expect([r["service_request_id"] for r in by_id] == [state["id"]], by_id)
        xml = xml_requests(xml_client, status="open", service_code="property.lift")
        expect(any(r["service_request_id"] == state["id"] for r in xml), "the XML list has it")
        tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat(timespec="seconds")
        expect(client.get_service_requests(start_date=tomorrow) == [], "nothing made after tomorrow")
        expect(xml_requests(xml_client, start_date=tomorrow) == [], "an empty XML list")
        hour_ago = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat(timespec="seconds")
        recent = client.get_service_requests(start_date=hour_ago, service_code="property.lift")
        expect(state["id"] in [r["service_request_id"] for r in recent], "made within the last hour")

    @check("errors come in the spec's format")
    def _():
        try:
            client.get_service_request("999999999")
        except requests.HTTPError as e:
            expect(e.response.status_code == 404, e.response.status_code)
            err = e.response.json()[0]
            expect(err["code"] == 404 and err["description"], err)
        else:
            raise AssertionError("an unknown request is 404")
        r = requests.post(f"{root}/requests.json", data={"service_code": "noise"}, timeout=30)
        expect(r.status_code == 403 and r.json()[0]["code"] == 403, r.text)

    print(f"{len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
