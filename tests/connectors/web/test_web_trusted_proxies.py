"""Behind a load balancer every request comes from the balancer's address: with `web.trusted_proxies` the rate
limit counts each client named in X-Forwarded-For, and nobody else can choose the name it is counted under."""

from __future__ import annotations

import pytest

from smallbot.connectors.web import WebSettings, create_app
from smallbot.connectors.web.access import ClientAddress
from smallbot.project.loader import load_project
from smallbot.runtime.bot import Bot




async def _statuses(client, forwarded_for: str, count: int) -> list[int]:
    statuses = []
    for _ in range(count):
        response = await client.post("/api/messages", json={"text": "hello"},
                                     headers={"X-Forwarded-For": forwarded_for})
        statuses.append(response.status)
    return statuses


@pytest.fixture
def bot(tiny_copy, encoder):
    bot = Bot.from_build(load_project(tiny_copy), encoder=encoder, with_store=False)
    yield bot
    bot.close()


@pytest.mark.asyncio
async def test_through_a_trusted_balancer_each_forwarded_client_has_its_own_limit(aiohttp_client, bot):
    settings = WebSettings.from_config(bot.config, port=0, rate_limit_per_minute=1, rate_limit_burst=2,
                                       trusted_proxies=("127.0.0.0/8",))
    client = await aiohttp_client(create_app(bot, settings))
    assert await _statuses(client, "198.51.100.7", 3) == [200, 200, 429]
    assert await _statuses(client, "198.51.100.8", 2) == [200, 200]  # another client behind the same balancer
    # what a client writes itself stays on the left; the balancer's hop names who it really is
    assert await _statuses(client, "203.0.113.99, 198.51.100.7", 1) == [429]


@pytest.mark.asyncio
async def test_without_trusted_proxies_the_header_cannot_dodge_the_limit(aiohttp_client, bot):
    settings = WebSettings.from_config(bot.config, port=0, rate_limit_per_minute=1, rate_limit_burst=2)
    client = await aiohttp_client(create_app(bot, settings))
    assert await _statuses(client, "198.51.100.7", 2) == [200, 200]
    assert await _statuses(client, "198.51.100.8", 1) == [429]  # all one client: the peer address


def test_client_address_reads_forwarded_for_from_the_right():
    clients = ClientAddress(["10.0.0.0/8", "192.0.2.1"])
    assert clients.of("10.1.2.3", "198.51.100.7, 192.0.2.1") == "198.51.100.7"
    assert clients.of("10.1.2.3", "10.9.9.9") == "10.9.9.9"  # only proxies: the first hop
    assert clients.of("10.1.2.3", None) == "10.1.2.3"
    assert clients.of("198.51.100.1", "10.0.0.1") == "198.51.100.1"  # not from a proxy: header ignored
    assert clients.of(None, None) == "unknown"


def test_a_bad_trusted_proxy_is_reported_with_its_line(tiny_copy):
    from smallbot.errors import ProjectError

    with open(tiny_copy / "bot.yml", "a") as f:
        f.write("\nweb:\n  trusted_proxies: [10.0.0.0/8, nginx-host]\n")
    with pytest.raises(ProjectError) as raised:
        load_project(tiny_copy)
    assert "bot.yml:" in str(raised.value) and "'nginx-host'" in str(raised.value)
