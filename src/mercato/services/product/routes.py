"""HTTP routes of product: parse, authorize, call one use case."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response, status
from pydantic import TypeAdapter

from mercato.catalog import API_PREFIX
from mercato.platform.deps import Provided
from mercato.platform.errors import ValidationFailed
from mercato.platform.pagination import Page, PageRequestDep, encode_cursor, page_of
from mercato.platform.schemas import MAX_AMOUNT
from mercato.platform.security import AdminUser
from mercato.services.product.repository import Listing
from mercato.services.product.schemas import (
    CategoryCreate,
    CategoryPublic,
    ImagePublic,
    ImageUploadPublic,
    ImageUploadRequest,
    Money,
    ProductCreate,
    ProductPublic,
    ProductSort,
    ProductUpdate,
    RatingPublic,
)
from mercato.services.product.service import Catalog, ProductView

router = APIRouter(prefix=API_PREFIX, tags=["product"])


def _public(view: ProductView) -> ProductPublic:
    p = view.product
    return ProductPublic(
        id=p.id,
        sku=p.sku,
        name=p.name,
        description=p.description,
        price=Money(amount=p.price_amount, currency=p.currency),
        category=CategoryPublic.model_validate(p.category) if p.category else None,
        images=[ImagePublic(id=i.id, url=i.url, content_type=i.content_type) for i in view.images],
        rating=RatingPublic(average=view.rating_average, count=p.rating_count),
        active=p.active,
        attributes=p.attributes,
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


# -- categories ---------------------------------------------------------------


@router.get("/categories")
async def list_categories(page: PageRequestDep, catalog: Provided[Catalog]) -> Page[CategoryPublic]:
    """Every category, by slug."""
    rows = await catalog.categories(page)
    return page_of(rows, page, CategoryPublic.model_validate, key=lambda c: (c.slug,))


@router.post("/categories", status_code=status.HTTP_201_CREATED)
async def create_category(
    body: CategoryCreate, _: AdminUser, catalog: Provided[Catalog]
) -> CategoryPublic:
    """Adds a category (administrators); 409 when the slug is taken."""
    return CategoryPublic.model_validate(
        await catalog.create_category(slug=body.slug, name=body.name)
    )


# -- products -----------------------------------------------------------------


def _json(body: Any, schema: TypeAdapter[Any]) -> Response:
    """``body``, already in the shape of ``schema``, as the JSON pydantic would write for it.

    The hot reads build their answer as plain data (no models to build, validate and
    dump: ADR 0037); tests check the bytes against the schema's own serialiser. A value
    orjson cannot write (an integer beyond 64 bits in ``attributes``) goes through it.
    """
    try:
        content = orjson.dumps(body, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:
        content = schema.dump_json(schema.validate_python(body))
    return Response(content, media_type="application/json")


_PAGE = TypeAdapter(Page[ProductPublic])
_PRODUCT = TypeAdapter(ProductPublic)


@router.get("/products", response_model=Page[ProductPublic])
async def list_products(
    page: PageRequestDep,
    catalog: Provided[Catalog],
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    category: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    min_price: Annotated[int | None, Query(ge=0, le=MAX_AMOUNT)] = None,
    max_price: Annotated[int | None, Query(ge=0, le=MAX_AMOUNT)] = None,
    sort: ProductSort | None = None,
) -> Response:
    """Active products: full-text search, category and price filters, several orders."""
    if min_price is not None and max_price is not None and min_price > max_price:
        raise ValidationFailed(
            "min_price is above max_price.",
            errors=[{"loc": ["query", "min_price"], "msg": "must not exceed max_price"}],
        )
    category_id, category_slug = _category_reference(category)
    listing = Listing(
        sort=sort or (ProductSort.relevance if q else ProductSort.newest),
        q=q,
        category_id=category_id,
        category_slug=category_slug,
        min_price=min_price,
        max_price=max_price,
    )
    rows = await catalog.listing(listing, page)
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    next_cursor = encode_cursor(*rows[-1].key) if more and rows else None
    return _json({"items": [r.document for r in rows], "next_cursor": next_cursor}, _PAGE)


def _category_reference(reference: str | None) -> tuple[uuid.UUID | None, str | None]:
    """A category named by its id or by its slug, as (id, slug)."""
    if reference is None:
        return None, None
    try:
        return uuid.UUID(reference), None
    except ValueError:
        return None, reference


@router.get("/products/{product_id}", response_model=ProductPublic)
async def product_by_id(product_id: uuid.UUID, catalog: Provided[Catalog]) -> Response:
    """One product, inactive ones included (they say ``active: false``)."""
    found = await catalog.view(product_id)
    if isinstance(found, ProductView):  # an upload was in flight: the model, validated
        return Response(_PRODUCT.dump_json(_public(found)), media_type="application/json")
    return _json(found, _PRODUCT)


@router.post("/products", status_code=status.HTTP_201_CREATED)
async def create_product(
    body: ProductCreate, _: AdminUser, catalog: Provided[Catalog]
) -> ProductPublic:
    """Adds a product (administrators); 409 when the SKU is taken."""
    view = await catalog.create_product(
        sku=body.sku,
        name=body.name,
        description=body.description,
        amount=body.price.amount,
        currency=body.price.currency,
        category_id=body.category_id,
        attributes=body.attributes,
        active=body.active,
    )
    return _public(view)


@router.patch("/products/{product_id}")
async def update_product(
    product_id: uuid.UUID, body: ProductUpdate, _: AdminUser, catalog: Provided[Catalog]
) -> ProductPublic:
    """Changes a product (administrators); absent fields stay as they are."""
    return _public(await catalog.update_product(product_id, body.model_dump(exclude_unset=True)))


@router.delete("/products/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
async def deactivate_product(
    product_id: uuid.UUID, _: AdminUser, catalog: Provided[Catalog]
) -> None:
    """Takes a product off sale (administrators); it stays readable by id."""
    await catalog.deactivate_product(product_id)


@router.post("/products/{product_id}/images")
async def start_image_upload(
    product_id: uuid.UUID, body: ImageUploadRequest, _: AdminUser, catalog: Provided[Catalog]
) -> ImageUploadPublic:
    """A presigned URL to upload a picture; the product lists it once it is uploaded."""
    image_id, upload = await catalog.start_image_upload(
        product_id, content_type=body.content_type, size=body.size
    )
    return ImageUploadPublic(image_id=image_id, **vars(upload))
