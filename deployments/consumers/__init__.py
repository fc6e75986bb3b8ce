"""Websocket consumers: the agent socket, live log viewers and the web terminal."""

from deployments.consumers.agent import AgentConsumer
from deployments.consumers.logs import LogViewerConsumer
from deployments.consumers.terminal import TerminalConsumer

__all__ = ["AgentConsumer", "LogViewerConsumer", "TerminalConsumer"]
