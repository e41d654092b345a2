"""analytics' tables: one row of counters per UTC day (and product, or cart) and report.

Every handler adds to these counters in the transaction that records its event in the
inbox, so an event counts once however often it is delivered. A day is a UTC date.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import BigInteger, Date, Integer, String, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from mercato.platform.db import declarative_base

Base = declarative_base()
ZERO = text("0")


class DailySales(Base):
    """Orders confirmed on a day and the money they brought, net of what was taken back."""

    __tablename__ = "daily_sales"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    orders: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    gross_amount: Mapped[int] = mapped_column(BigInteger, server_default=ZERO)
    refunded_orders: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, server_default=ZERO)


class DailyProductSales(Base):
    """Units of a product sold on a day, net of the units of orders taken back that day."""

    __tablename__ = "daily_product_sales"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    # The product's SKU and name as the latest order of the day sold it.
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    revenue_amount: Mapped[int] = mapped_column(BigInteger, server_default=ZERO)


class DailyFunnel(Base):
    """How many orders were created, confirmed, failed, cancelled and refunded on a day."""

    __tablename__ = "daily_funnel"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    orders_created: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    orders_confirmed: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    orders_failed: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    orders_cancelled: Mapped[int] = mapped_column(Integer, server_default=ZERO)
    orders_refunded: Mapped[int] = mapped_column(Integer, server_default=ZERO)


class CartDay(Base):
    """A cart (its customer's) that got an item on a day: the funnel counts distinct carts."""

    __tablename__ = "cart_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)


class DailyUsers(Base):
    """Accounts registered on a day."""

    __tablename__ = "daily_users"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    users: Mapped[int] = mapped_column(Integer, server_default=ZERO)
