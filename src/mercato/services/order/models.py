"""order's tables: cart lines, orders (which move through their lifecycle), checkout keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, reconstructor, relationship

from mercato.contracts.order import OrderCreated, OrderLine, OrderState
from mercato.platform.db import declarative_base
from mercato.platform.schemas import Money
from mercato.services.order import lifecycle
from mercato.services.order.lifecycle import FailureReason, OrderStatus, Outcome, SagaStep

Base = declarative_base()


class CartLine(Base):
    """A product and how many of it a customer means to buy; prices are looked up, not kept."""

    __tablename__ = "cart_lines"
    __table_args__ = (CheckConstraint("quantity BETWEEN 1 AND 99", name="quantity_range"),)

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    quantity: Mapped[int] = mapped_column(SmallInteger)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Order(Base):
    """An order and the state of its saga, moving only as :mod:`.lifecycle` allows.

    ``status`` (an :class:`OrderStatus`) is what the customer sees; ``step`` (a
    :class:`SagaStep`) is the saga's next action (None when nothing is left to do). Each
    step is committed before the side effect it names, so whoever drives the order next
    (the request, or the recovery job once ``lease_until`` has passed) repeats at most that
    one idempotent call. Each move records the events it causes in ``events``, for the
    caller to publish in the transaction that saves the move.
    """

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("total_amount >= 0", name="total_not_negative"),
        Index("ix_orders_user_id_created_at_id", "user_id", "created_at", "id"),
        Index("ix_orders_created_at_id", "created_at", "id"),
        Index("ix_orders_due", "lease_until", postgresql_where=text("step IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16))
    step: Mapped[str | None] = mapped_column(String(16))
    total_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSONB)
    payment_method_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    charge_key: Mapped[str] = mapped_column(String(200))
    reservation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    charge_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    failure_reason: Mapped[str | None] = mapped_column(String(40))
    failure_detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    needs_refund: Mapped[bool] = mapped_column(Boolean)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer)
    lease_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    items: Mapped[list[OrderItem]] = relationship(
        order_by="OrderItem.line", cascade="all, delete-orphan", lazy="selectin"
    )

    def __init__(self, **fields: Any) -> None:
        super().__init__(**fields)
        self.events: list[OrderState] = []
        # The checkout's answer, once a move of this very object stored it (the first).
        self.answer: lifecycle.CheckoutAnswer | None = None

    @reconstructor
    def _loaded(self) -> None:
        self.events = []
        self.answer = None

    @classmethod
    def place(
        cls,
        *,
        id: uuid.UUID,
        user_id: uuid.UUID,
        items: list[OrderItem],
        currency: str,
        shipping_address: dict[str, Any],
        payment_method_id: uuid.UUID,
        lease_until: datetime,
        now: datetime,
    ) -> Order:
        """A new pending order about to reserve its stock; records ``order.created``."""
        order = cls(
            id=id,
            user_id=user_id,
            status=OrderStatus.PENDING,
            step=SagaStep.RESERVE,
            total_amount=sum(i.unit_amount * i.quantity for i in items),
            currency=currency,
            shipping_address=shipping_address,
            payment_method_id=payment_method_id,
            charge_key=f"order-{id}",
            needs_refund=False,
            attempts=0,
            lease_until=lease_until,
            created_at=now,
            updated_at=now,
            items=items,
        )
        order._record(OrderCreated)
        return order

    # -- the saga's steps answered --------------------------------------------

    def reserved(self, reservation_id: uuid.UUID) -> None:
        """inventory holds the stock: charge next."""
        self._move(Outcome.RESERVED)
        self.reservation_id = reservation_id

    def out_of_stock(self, short: list[dict[str, Any]]) -> None:
        """inventory lacks some SKUs (nothing is held): the order fails."""
        self._move(Outcome.OUT_OF_STOCK, FailureReason.OUT_OF_STOCK, {"short": short})

    def charged(self, charge_id: uuid.UUID) -> None:
        """payment took the money: commit the stock next."""
        self._move(Outcome.CHARGED)
        self.charge_id = charge_id

    def declined(self, charge_id: uuid.UUID, decline_code: str | None) -> None:
        """The card was declined: release the stock, then fail."""
        self._move(Outcome.DECLINED, FailureReason.PAYMENT_DECLINED, {"decline_code": decline_code})
        self.charge_id = charge_id

    def refused(self, message: str) -> None:
        """payment refused to charge (say, not the customer's card): release, then fail."""
        self._move(Outcome.REFUSED, FailureReason.PAYMENT_REFUSED, {"message": message})

    def committed(self) -> None:
        """The reserved stock is sold: the order is confirmed."""
        self._move(Outcome.COMMITTED)

    def reservation_expired(self) -> None:
        """Paid, but the reservation ran out before commit: fail and give the money back."""
        self._move(Outcome.RESERVATION_EXPIRED, FailureReason.RESERVATION_EXPIRED, {})
        self.needs_refund = True

    def released(self) -> None:
        """The stock went back: a failing order fails (refund next if due); a cancelled refunds."""
        self._move(Outcome.RELEASED_REFUND_DUE if self.needs_refund else Outcome.RELEASED)

    def refunded(self) -> None:
        """Every charge of the order is refunded: the saga has nothing left to do."""
        self._move(Outcome.REFUNDED)

    # -- decisions ------------------------------------------------------------

    def give_up(self) -> None:
        """Pending too long: release what is held and fail, refunding any charge past reserve."""
        step = self.step
        self._move(Outcome.TIMED_OUT, FailureReason.TIMED_OUT, {"step": step})
        # Past the reserve step a charge may exist, or still appear: refund it.
        self.needs_refund = step != SagaStep.RESERVE

    def request_cancellation(self, now: datetime) -> None:
        """The customer cancels the confirmed order: release its stock, then refund."""
        self._move(Outcome.CANCELLATION_REQUESTED)
        self.cancel_requested_at = now

    def refunded_elsewhere(self) -> None:
        """An administrator refunded the order's charge in full: the order is refunded."""
        self._move(Outcome.REFUNDED_ELSEWHERE)

    def may(self, outcome: Outcome) -> bool:
        """Tells whether the lifecycle allows ``outcome`` from where the order stands."""
        return lifecycle.allows(self.status, self.step, outcome)

    def state(self, event: type[OrderState]) -> OrderState:
        """The order's state, lines and total as the payload of an order.* ``event``."""
        return event(
            order_id=self.id,
            user_id=self.user_id,
            status=self.status,
            items=[
                OrderLine(
                    product_id=item.product_id,
                    sku=item.sku,
                    name=item.name,
                    quantity=item.quantity,
                    unit_price=Money(amount=item.unit_amount, currency=self.currency),
                )
                for item in self.items
            ],
            total=Money(amount=self.total_amount, currency=self.currency),
            charge_id=self.charge_id,
            failure_reason=self.failure_reason,
        )

    def _move(
        self,
        outcome: Outcome,
        reason: FailureReason | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Makes the move ``outcome`` (with why the order fails, if it does) or refuses it."""
        # Looked up before anything changes: a refused move leaves the order as it was.
        status, step = lifecycle.after(self.status, self.step, outcome)
        if reason is not None:
            self.failure_reason, self.failure_detail = reason, detail or {}
        reached = status != self.status
        self.status, self.step = status, step
        if reached:
            self._record(lifecycle.REACHED[status])

    def _record(self, event: type[OrderState]) -> None:
        self.events.append(self.state(event))


class OrderItem(Base):
    """A line of an order: the product as it was sold (name and price snapshotted)."""

    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity BETWEEN 1 AND 99", name="quantity_range"),
        CheckConstraint("unit_amount > 0", name="unit_amount_positive"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    line: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    unit_amount: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(SmallInteger)


class CheckoutRequest(Base):
    """A checkout Idempotency-Key of a customer and the first response given for it.

    The row is inserted in the same transaction as its order, so a key never exists
    without one; ``response_status`` stays empty while the first request is running.
    """

    __tablename__ = "checkout_requests"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    response_status: Mapped[int | None] = mapped_column(SmallInteger)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
