import inspect
import pickle

import pytest

from runtime import errors

ERROR_CLASSES = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, BaseException) and cls.__module__ == errors.__name__
]


def test_the_walk_found_the_tree():
    names = {cls.__name__ for cls in ERROR_CLASSES}
    assert {"RobofleetError", "QueueFull", "StoreUnavailable", "BadPayload"} <= names


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_derives_from_the_root(cls):
    assert issubclass(cls, errors.RobofleetError)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_survives_pickle(cls):
    original = cls("something broke")
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is cls
    assert str(copy) == "something broke"
    assert copy.message == "something broke"
    assert copy.args == original.args
    assert copy.code == cls.code


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_every_error_survives_pickle_without_message(cls):
    copy = pickle.loads(pickle.dumps(cls()))
    assert type(copy) is cls and str(copy) == ""


def test_queue_full_keeps_retry_after_across_pickle():
    copy = pickle.loads(pickle.dumps(errors.QueueFull("type 'ocr' is full", 2.5)))
    assert type(copy) is errors.QueueFull
    assert copy.retry_after_s == 2.5
    assert copy.message == "type 'ocr' is full"
    assert isinstance(copy, errors.RoutingError)


def test_queue_full_default_retry_after():
    assert pickle.loads(pickle.dumps(errors.QueueFull("full"))).retry_after_s == 1.0


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (errors.RetryableError("flaky"), True),
        (errors.RobotError("generic"), True),
        (errors.PermanentError("never"), False),
        (errors.BadPayload("no field"), False),
        (ValueError("plain python error"), True),
        (TimeoutError(), True),
        (KeyError("x"), True),
    ],
)
def test_is_retryable(exc, retryable):
    assert errors.is_retryable(exc) is retryable


def test_is_retryable_survives_pickle_and_user_subclasses():
    class NoSuchInvoice(errors.PermanentError):
        """Raised when the invoice does not exist."""

    assert errors.is_retryable(NoSuchInvoice("gone")) is False
    assert errors.is_retryable(pickle.loads(pickle.dumps(errors.BadPayload("x")))) is False
