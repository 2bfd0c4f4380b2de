"""A dependency error that reaches the top is a 503 with Retry-After, never a 500: pages and API alike.

The error is real: a Redis client talking to a port where nothing listens (a stopped broker).
"""

from __future__ import annotations

import socket

import pytest
import redis
from django.test import Client
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from faceweb import urls as product_urls


def dead_redis() -> redis.Redis:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens there
    return redis.Redis(port=port, socket_connect_timeout=1)


def page_needing_the_broker(request):
    dead_redis().ping()


class ApiNeedingTheBroker(APIView):
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def post(self, request):
        dead_redis().ping()
        return Response({})


urlpatterns = [path("page/", page_needing_the_broker), path("api/v1/thing/", ApiNeedingTheBroker.as_view()),
               *product_urls.urlpatterns]  # the layout links to the product's pages


@pytest.fixture
def client_for_these_views(settings, db):
    settings.ROOT_URLCONF = __name__
    return Client(raise_request_exception=False)


def test_a_page_whose_broker_is_down_answers_the_apps_503_page(client_for_these_views):
    response = client_for_these_views.get("/page/")

    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert b"unavailable for a moment" in response.content and b'class="topbar"' in response.content


def test_an_api_call_whose_broker_is_down_answers_503_with_the_api_error_body(client_for_these_views):
    response = client_for_these_views.post("/api/v1/thing/")

    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "unavailable"
    assert set(response.json()["error"]) == {"code", "message", "fields"}
