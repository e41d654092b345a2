"""product's use cases: categories, products, images, listing and the rating aggregate."""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from mercato.contracts.product import (
    ProductChanged,
    ProductCreated,
    ProductDeactivated,
    ProductUpdated,
)
from mercato.contracts.review import ReviewState
from mercato.platform.db import Reader, UnitOfWork, utcnow
from mercato.platform.errors import Conflict, NotFound, ValidationFailed
from mercato.platform.events import Event
from mercato.platform.pagination import InvalidCursor, PageRequest
from mercato.platform.s3 import ObjectStore, PresignedUpload, UploadPolicy
from mercato.platform.schemas import Money
from mercato.services.product import repository
from mercato.services.product.models import Category, Product, ProductImage
from mercato.services.product.repository import Listing
from mercato.services.product.schemas import ProductSort
from mercato.services.product.settings import Settings

# A pending image whose upload window closed this long ago without an object is dropped.
ABANDONED_UPLOAD_GRACE = timedelta(minutes=5)

log = logging.getLogger("mercato.product")


class ProductNotFound(NotFound):
    """No product with this id."""

    slug, title = "product-not-found", "Product not found"


class SkuTaken(Conflict):
    """Another product is sold under this SKU."""

    slug, title = "sku-taken", "SKU taken"


class CategorySlugTaken(Conflict):
    """Another category has this slug."""

    slug, title = "category-slug-taken", "Category slug taken"


@dataclass(frozen=True)
class ImageView:
    """An uploaded picture with a fresh download URL."""

    id: uuid.UUID
    url: str
    content_type: str


@dataclass(frozen=True)
class ProductView:
    """A product with download URLs for its uploaded pictures."""

    product: Product
    images: list[ImageView]

    @property
    def rating_average(self) -> float | None:
        """The mean rating of the visible reviews, to two decimals."""
        p = self.product
        return round(p.rating_sum / p.rating_count, 2) if p.rating_count else None


@dataclass(frozen=True, slots=True)
class Listed:
    """One product of a listing page, as the API shows it, and its sort key for a cursor."""

    document: dict[str, Any]
    key: tuple[Any, ...]


def _changed(kind: type[ProductChanged], product: Product) -> ProductChanged:
    """The event ``kind`` of ``product`` as it now stands."""
    return kind(
        product_id=product.id,
        sku=product.sku,
        name=product.name,
        price=Money(amount=product.price_amount, currency=product.currency),
        active=product.active,
    )


async def apply_review(event: Event[ReviewState], uow: UnitOfWork) -> None:
    """Handles ``review.*``: keeps the review's newest state and recounts the product's rating.

    Events carry the review's full state, so a redelivery or an older state arriving late
    changes nothing. One that breaks its contract never gets here (see the dead letters).
    """
    review = event.payload
    deleted = event.type == "review.deleted"
    kept = await repository.remember_review(
        uow.session,
        review_id=review.review_id,
        product_id=review.product_id,
        rating=review.rating,
        visible=review.visible and not deleted,
        deleted=deleted,
        updated_at=review.updated_at,
    )
    # Locking the product first serializes concurrent recounts, and the recount's own
    # statement then sees every review committed before the lock was granted.
    if kept and await repository.lock_product(uow.session, review.product_id):
        await repository.recount_rating(uow.session, review.product_id)


class PictureUrls:
    """Presigned download URLs of pictures, each reused for half its lifetime.

    Signing is most of the CPU a listing costs (twenty pictures a page); a URL handed
    out again stays valid for at least half its lifetime, and browsers may cache it.
    """

    def __init__(
        self, store: ObjectStore, bucket: str, *, expires_in: int, capacity: int = 20_000
    ) -> None:
        self._store = store
        self._bucket = bucket
        self._expires_in = expires_in
        self._capacity = capacity
        self._signed: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def url(self, key: str) -> str:
        """A download URL for object ``key`` valid for at least half its lifetime."""
        now = time.monotonic()
        cached = self._signed.get(key)
        if cached is not None and now - cached[0] < self._expires_in / 2:
            self._signed.move_to_end(key)
            return cached[1]
        url = self._store.presign_download(self._bucket, key, expires_in=self._expires_in)
        self._signed[key] = (now, url)
        self._signed.move_to_end(key)
        if len(self._signed) > self._capacity:
            self._signed.popitem(last=False)
        return url


class Catalog:
    """The product use cases; each opens and commits its own unit of work."""

    def __init__(
        self,
        *,
        settings: Settings,
        unit_of_work: Callable[[], UnitOfWork],
        reader: Callable[[], Reader],
        store: ObjectStore,
        bucket: str,
    ) -> None:
        self._settings = settings
        self._uow = unit_of_work
        self._reader = reader
        self._store = store
        self._bucket = bucket
        self._urls = PictureUrls(store, bucket, expires_in=settings.image_url_expires_seconds)

    # -- categories ---------------------------------------------------------

    async def create_category(self, *, slug: str, name: str) -> Category:
        """Adds a category; 409 when the slug is taken."""
        async with self._uow() as uow:
            category = await repository.insert_category_unless_taken(
                uow.session, slug=slug, name=name, now=utcnow()
            )
            if category is None:
                existing = await repository.category_by_slug(uow.session, slug)
                raise CategorySlugTaken(
                    f"There is a category {slug!r} already.",
                    category_id=str(existing.id) if existing else None,
                )
            await uow.commit()
        return category

    async def categories(self, request: PageRequest) -> list[Category]:
        """Categories by slug (``limit + 1`` rows)."""
        after = None
        if request.after:
            if len(request.after) != 1 or not isinstance(request.after[0], str):
                raise InvalidCursor()
            after = request.after[0]
        async with self._uow() as uow:
            return await repository.categories_page(
                uow.session, limit=request.limit + 1, after=after
            )

    # -- products -----------------------------------------------------------

    async def create_product(
        self,
        *,
        sku: str,
        name: str,
        description: str,
        amount: int,
        currency: str,
        category_id: uuid.UUID | None,
        attributes: dict[str, Any],
        active: bool,
    ) -> ProductView:
        """Adds a product and announces ``product.created``; 409 when the SKU is taken."""
        self._check_currency(currency)
        now = utcnow()
        async with self._uow() as uow:
            await self._check_category(uow, category_id)
            product_id = await repository.insert_product_unless_sku_taken(
                uow.session,
                {
                    "id": uuid.uuid4(),
                    "sku": sku,
                    "name": name,
                    "description": description,
                    "price_amount": amount,
                    "currency": currency,
                    "category_id": category_id,
                    "attributes": attributes,
                    "active": active,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            if product_id is None:
                existing = await repository.product_id_by_sku(uow.session, sku)
                raise SkuTaken(
                    f"A product is sold under SKU {sku!r} already.",
                    product_id=str(existing) if existing else None,
                )
            product = await self._load(uow, product_id)
            await uow.publish(_changed(ProductCreated, product), subject=product.id)
            await uow.commit()
        return self._view(product)

    async def update_product(self, product_id: uuid.UUID, changes: dict[str, Any]) -> ProductView:
        """Applies ``changes``; announces ``product.updated`` (or ``.deactivated``) if any."""
        if "price" in changes:
            self._check_currency(changes["price"]["currency"])
        async with self._uow() as uow:
            product = await self._load(uow, product_id, for_update=True)
            was_active = product.active
            changed = False
            if "category_id" in changes and changes["category_id"] != product.category_id:
                product.category = await self._check_category(uow, changes["category_id"])
                changed = True
            for field, value in self._columns(changes).items():
                if getattr(product, field) != value:
                    setattr(product, field, value)
                    changed = True
            if changed:
                product.updated_at = utcnow()
                await uow.session.flush()
                event = ProductDeactivated if was_active and not product.active else ProductUpdated
                await uow.publish(_changed(event, product), subject=product.id)
                await uow.commit()
        return self._view(product)

    async def deactivate_product(self, product_id: uuid.UUID) -> None:
        """Takes the product off sale and announces ``product.deactivated`` (once)."""
        async with self._uow() as uow:
            product = await self._load(uow, product_id, for_update=True)
            if not product.active:
                return
            product.active = False
            product.updated_at = utcnow()
            await uow.publish(_changed(ProductDeactivated, product), subject=product.id)
            await uow.commit()

    async def view(self, product_id: uuid.UUID) -> dict[str, Any] | ProductView:
        """The product as the API shows it (ProductPublic's JSON), inactive ones included.

        One read without a transaction; only a product with a picture upload in flight
        takes a unit of work, to take in the uploads that have completed, and comes back
        as the loaded :class:`ProductView` (rare: it goes the validated way).
        """
        async with self._reader() as reader:
            row = await repository.product_row(reader, product_id)
        if row is None:
            raise ProductNotFound("There is no such product.")
        if any(picture[3] == "pending" for picture in row[15]):
            return await self._settled_view(product_id)
        return self._row_document(row)

    async def _settled_view(self, product_id: uuid.UUID) -> ProductView:
        async with self._uow() as uow:
            product = await self._load(uow, product_id)
            pending = any(i.status == "pending" for i in product.images)
            if pending and await self._settle_pending_images(product):
                await uow.commit()
        return self._view(product)

    async def listing(self, listing: Listing, request: PageRequest) -> list[Listed]:
        """Active products matching ``listing`` (``limit + 1`` of them), as the API shows them."""
        sort = listing.sort
        if sort is ProductSort.relevance and listing.q is None:
            sort = ProductSort.newest
        after = _decode_listing_cursor(sort, request.after) if request.after else None
        async with self._reader() as reader:
            rows = await repository.products_page(
                reader, listing, limit=request.limit + 1, after=after
            )
        key = _CURSOR_KEYS[sort]
        return [
            Listed(self._row_document(row), (sort.value, key(row), str(row[0]))) for row in rows
        ]

    def _row_document(self, row: Any) -> dict[str, Any]:
        """A product row (:data:`repository.ROW`) as ProductPublic's JSON, ready pictures only."""
        (
            product_id,
            sku,
            name,
            description,
            amount,
            currency,
            attributes,
            active,
            rating_count,
            rating_sum,
            created_at,
            updated_at,
            category_id,
            category_slug,
            category_name,
            pictures,
        ) = row[:16]
        url = self._urls.url
        return {
            "id": str(product_id),
            "sku": sku,
            "name": name,
            "description": description,
            "price": {"amount": amount, "currency": currency},
            "category": None
            if category_id is None
            else {"id": str(category_id), "slug": category_slug, "name": category_name},
            "images": [
                {"id": picture_id, "url": url(key), "content_type": content_type}
                for picture_id, key, content_type, status in pictures
                if status == "ready"
            ],
            "rating": {
                "average": round(rating_sum / rating_count, 2) if rating_count else None,
                "count": rating_count,
            },
            "active": active,
            "attributes": attributes,
            "created_at": created_at,
            "updated_at": updated_at,
        }

    # -- images -------------------------------------------------------------

    async def start_image_upload(
        self, product_id: uuid.UUID, *, content_type: str, size: int
    ) -> tuple[uuid.UUID, PresignedUpload]:
        """A presigned URL for a new picture, within the type, size and count policy."""
        settings = self._settings
        UploadPolicy(settings.image_content_types, settings.image_max_bytes).check(
            content_type=content_type, size=size, what="image"
        )
        image_id = uuid.uuid4()
        key = f"products/{product_id}/{image_id.hex}"
        async with self._uow() as uow:
            product = await self._load(uow, product_id, for_update=True)
            if len(product.images) >= settings.images_per_product:
                raise Conflict(f"A product has at most {settings.images_per_product} images.")
            product.images.append(
                ProductImage(
                    id=image_id,
                    product_id=product.id,
                    key=key,
                    content_type=content_type,
                    size=size,
                    status="pending",
                    created_at=utcnow(),
                )
            )
            await uow.commit()
        upload = self._store.presign_upload(
            self._bucket,
            key,
            content_type=content_type,
            size=size,
            expires_in=settings.image_upload_expires_seconds,
        )
        return image_id, upload

    async def _settle_pending_images(self, product: Product) -> bool:
        """Marks uploaded pending images ready and drops abandoned ones; True if any changed."""
        now = utcnow()
        window = timedelta(seconds=self._settings.image_upload_expires_seconds)
        changed = False
        for image in [i for i in product.images if i.status == "pending"]:
            if await self._store.head(self._bucket, image.key) is not None:
                image.status = "ready"
                changed = True
            elif image.created_at + window + ABANDONED_UPLOAD_GRACE < now:
                product.images.remove(image)
                changed = True
        return changed

    # -- helpers ------------------------------------------------------------

    def _check_currency(self, currency: str) -> None:
        if currency != self._settings.currency:
            raise ValidationFailed(
                f"The shop sells in {self._settings.currency} only.",
                errors=[
                    {
                        "loc": ["body", "price", "currency"],
                        "msg": f"must be {self._settings.currency}",
                    }
                ],
            )

    @staticmethod
    async def _check_category(uow: UnitOfWork, category_id: uuid.UUID | None) -> Category | None:
        if category_id is None:
            return None
        category = await repository.category(uow.session, category_id)
        if category is None:
            raise ValidationFailed(
                "There is no such category.",
                errors=[{"loc": ["body", "category_id"], "msg": "unknown category"}],
            )
        return category

    @staticmethod
    def _columns(changes: dict[str, Any]) -> dict[str, Any]:
        columns = {k: v for k, v in changes.items() if k not in ("price", "category_id")}
        if "price" in changes:
            columns["price_amount"] = changes["price"]["amount"]
            columns["currency"] = changes["price"]["currency"]
        return columns

    @staticmethod
    async def _load(uow: UnitOfWork, product_id: uuid.UUID, *, for_update: bool = False) -> Product:
        product = await repository.product(uow.session, product_id, for_update=for_update)
        if product is None:
            raise ProductNotFound("There is no such product.")
        return product

    def _view(self, product: Product) -> ProductView:
        images = [
            ImageView(
                id=image.id,
                url=self._urls.url(image.key),
                content_type=image.content_type,
            )
            for image in product.images
            if image.status == "ready"
        ]
        return ProductView(product=product, images=images)


# A listing row's sort key as a cursor holds it (the row's columns: repository.ROW, rank).
_CURSOR_KEYS: dict[ProductSort, Callable[[Any], Any]] = {
    ProductSort.relevance: lambda row: row[16],
    ProductSort.newest: lambda row: row[10].isoformat(),
    ProductSort.price_asc: lambda row: row[4],
    ProductSort.price_desc: lambda row: row[4],
    ProductSort.name: lambda row: row[2],
}


def _decode_listing_cursor(sort: ProductSort, after: list[Any]) -> list[Any]:
    """The typed keyset of a listing cursor; 422 when it belongs to another order."""
    try:
        cursor_sort, value, product_id = after
        if cursor_sort != sort.value:
            raise ValueError("the cursor belongs to another order")
        key: Any
        if sort is ProductSort.relevance:
            key = float(value)
        elif sort is ProductSort.newest:
            key = datetime.fromisoformat(value)
        elif sort in (ProductSort.price_asc, ProductSort.price_desc):
            if not isinstance(value, int):
                raise TypeError("a price is an integer")
            key = value
        else:
            key = str(value)
        return [key, uuid.UUID(product_id)]
    except (ValueError, TypeError):
        raise InvalidCursor() from None
