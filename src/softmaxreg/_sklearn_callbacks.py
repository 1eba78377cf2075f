"""scikit-learn 1.9's callback API (``set_callbacks``) on softmaxreg's solvers.

scikit-learn's own :class:`~sklearn.callback.CallbackSupportMixin` provides
``set_callbacks`` and the callback context; this bridge calls its hooks as scikit-learn's
``LogisticRegression`` does: one root ``fit`` task, then one ``"iter"`` subtask per solver
iteration, each opened with the parameters it starts from and closed with those it ends
with (as ``fitted_estimator``, a copy of the estimator ready to predict), and a last,
empty subtask that the solver did not run.
"""

from __future__ import annotations

import numpy as np

from softmaxreg._arrays import dense_array


class CallbackBridge:
    """Forwards the solver's iterations to the callbacks set by ``set_callbacks``."""

    def __init__(self, estimator, X, y, sample_weight, max_iter: int, starts_state: dict):
        self.estimator, self.X, self.y = estimator, X, y
        self.metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        self.root = estimator._init_callback_context(max_subtasks=max(max_iter, 1) + 1)
        self.root.call_on_fit_task_begin(estimator=estimator, X=X, y=y, metadata=self.metadata)
        self.iterations = 0
        self.current = self._begin(starts_state)

    def _begin(self, state: dict):
        context = self.root.subcontext(task_name="iter")
        context.call_on_fit_task_begin(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes=state,
        )
        return context

    def iteration(self, state: dict) -> None:
        """One solver iteration ended with the fitted attributes ``state``."""
        self.iterations += 1
        self.current.call_on_fit_task_end(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes=state,
        )
        self.current = self._begin(state)

    def close(self, state: dict) -> None:
        """End the last (empty) subtask and the root task (``state``: the fitted model)."""
        if self.iterations == 0:  # as scikit-learn: at least one iteration task
            self.iteration(state)
        self.current.call_on_fit_task_end(estimator=self.estimator)
        self.root.call_on_fit_task_end(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes={},
        )


def fitted_state(model, out_dtype) -> dict:
    """The attributes that make a copy of ``model`` predict as it would now."""
    return {
        "coef_": dense_array(model.coef_, dtype=out_dtype).copy(),
        "intercept_": np.asarray(model.intercept_, dtype=out_dtype).copy(),
        "classes_": model.classes_,
        "kind_": model.kind_,
        "_label_dtype": model._label_dtype,
    }
