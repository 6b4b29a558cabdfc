"""Managed (lifecycle) nodes: the model nodes' configure / activate / deactivate / cleanup.

Why this exists: Nav2-style bring-up and yolo_ros drive nodes through the ROS 2 lifecycle
(``<node>/change_state``, ``<node>/get_state``) so that a lifecycle manager can load every model
first, start the data flow only when all of them are ready, and pause or retry a node without
restarting its process. The tracker, detector and enhancer share the same mapping onto it:

- *configure* loads and checks the model (a bad one fails the transition: the node stays up,
  unconfigured, and says why in its log and diagnostics; configure may be retried);
- *activate* subscribes to the image input and starts the worker thread, so output flows;
- *deactivate* stops the worker and unsubscribes: no more output;
- *cleanup* unloads the model; *shutdown* from any state releases whatever is held.

Parameters are declared in the constructor (a lifecycle node has them while unconfigured). With
the ``autostart`` parameter (the default) :meth:`ManagedNode.bring_up` configures and activates
the node at start-up, so launch files and the demo need no lifecycle manager, and a failed
configure ends the process with the usual ``[FATAL] parameter ...`` line and exit code 2 as
before. Every transition is logged, and the state is in diagnostics (``lifecycle``).
"""
from __future__ import annotations

from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from mlkd_tracker.nodes.diagnostics import ERROR, OK, Health
from mlkd_tracker.nodes.params import ParameterError, param

SUCCESS, FAILURE = TransitionCallbackReturn.SUCCESS, TransitionCallbackReturn.FAILURE


def autostart_param() -> Any:
    """The ``autostart`` field of a managed node's config dataclass."""
    return param(True, "Configure and activate at start-up (false: wait in the unconfigured "
                 "state for a lifecycle manager's configure and activate; a failed configure "
                 "then leaves the node up and reporting why instead of ending it).",
                 read_only=True)


class ManagedNode(LifecycleNode):
    """A lifecycle node whose subclass fills in four steps, each undoing the one before:

    ``load()`` (configure: build and check the model; raise :class:`ParameterError` to refuse),
    ``open()`` (activate: subscribe and start the worker), ``close_io()`` (deactivate) and
    ``unload()`` (cleanup). ``close_io`` and ``unload`` must be safe to call when their step was
    never done (shutdown and failed transitions call them). The subclass sets ``self.cfg`` (with
    an ``autostart`` field) before :meth:`bring_up`.
    """

    cfg: Any

    def __init__(self, node_name: str, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self.configure_error = ""  # why the last configure failed ("" after a success)
        self._configure_exc: ParameterError | None = None

    # ---- the subclass's steps ---------------------------------------------------------------
    def load(self) -> None:
        raise NotImplementedError

    def open(self) -> None:
        raise NotImplementedError

    def close_io(self) -> None:
        raise NotImplementedError

    def unload(self) -> None:
        raise NotImplementedError

    # ---- start-up -----------------------------------------------------------------------------
    def bring_up(self) -> None:
        """With ``autostart``: configure and activate now; a failed configure raises its
        :class:`ParameterError` (run_node turns it into ``[FATAL] ...`` and exit code 2)."""
        if not self.cfg.autostart:
            self.get_logger().info("autostart is off: unconfigured, waiting for configure "
                                   f"({self.get_fully_qualified_name()}/change_state)")
            return
        if self.trigger_configure() != SUCCESS:
            raise self._configure_exc or ParameterError(
                f"configure failed: {self.configure_error or 'see the log'}")
        if self.trigger_activate() != SUCCESS:
            raise RuntimeError(f"{self.get_name()} could not be activated; see the log")

    @property
    def lifecycle_state(self) -> str:
        """The current lifecycle state's label (``unconfigured``, ``inactive``, ``active``, ...)."""
        return self._state_machine.current_state[1]

    # ---- transitions --------------------------------------------------------------------------
    def _transition(self, what: str, done: str, step, undo=None) -> TransitionCallbackReturn:
        """Run ``step``; log the outcome. An exception fails the transition (after ``undo``),
        logged with its reason: rclpy would turn it into a silent ERROR."""
        log = self.get_logger()
        try:
            step()
        except Exception as exc:
            if undo is not None:
                try:
                    undo()
                except Exception as undo_exc:  # report the first failure, not the clean-up's
                    log.error(f"{what}: clean-up after the failure failed too: {undo_exc!r}")
            reason = str(exc) if isinstance(exc, ParameterError) else repr(exc)
            log.error(f"lifecycle: {what} failed: {reason}")
            if what == "configure":
                self.configure_error = reason
                self._configure_exc = exc if isinstance(exc, ParameterError) else None
            return FAILURE
        log.info(f"lifecycle: {what} done, now {done}")
        return SUCCESS

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        ret = self._transition("configure", "inactive", self.load, self.unload)
        if ret == SUCCESS:
            self.configure_error, self._configure_exc = "", None
        return ret

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("activate", "active: processing frames", self.open,
                                self.close_io)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("deactivate", "inactive: no output", self.close_io)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition("cleanup", "unconfigured: model unloaded", self.unload)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        return self._transition(f"shutdown (from {state.label})", "finalized", self.release)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"lifecycle: error while {state.label}; releasing everything")
        self.release()
        return SUCCESS  # back to unconfigured

    def release(self) -> None:
        """Stop the worker and unload the model, whatever the state."""
        self.close_io()
        self.unload()

    def close(self) -> None:
        """At process exit (run_node): the shutdown transition while ROS still runs, else (after
        SIGINT/SIGTERM shut the context down) just release the worker and the model."""
        state = self.lifecycle_state
        if state == "finalized":
            pass  # shut down already (through change_state)
        elif self.context.ok():
            try:
                self.trigger_shutdown()
            except Exception:  # no shutdown transition from here: release below
                pass
        self.release()
        if state != "finalized" and not self.context.ok():
            self.get_logger().info(f"lifecycle: shutdown from {state}, worker and model released")

    # ---- diagnostics --------------------------------------------------------------------------
    def managed_health(self, active_health) -> Health:
        """The node's diagnostics with the lifecycle state: its own ``active_health()`` while
        active, the state and (after a failed configure) the reason otherwise."""
        state = self.lifecycle_state
        if state == "active":
            health = active_health()
            return Health(health.level, health.message, {"lifecycle": state, **health.values})
        values = {"lifecycle": state, "configure_error": self.configure_error}
        if state == "inactive":
            return Health(OK, "inactive: configured, not processing (activate to start)",
                          {**values, **active_health().values})
        if self.configure_error:
            return Health(ERROR, f"{state}: configure failed: {self.configure_error}", values)
        return Health(OK, f"{state}: waiting for configure", values)
