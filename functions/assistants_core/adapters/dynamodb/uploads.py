"""Uploads: ``UPLOAD#<id>`` / ``UPLOAD`` and its parts ``UPLOAD#<id>`` / ``PART#<part_id>``
(implements ``file_ports.UploadRepository``). Status changes are conditional on ``pending``."""

from __future__ import annotations

from assistants_core.adapters.dynamodb.file_items import (
    PART_PREFIX,
    UPLOAD_SK,
    file_to_item,
    part_from_item,
    part_to_item,
    upload_from_item,
    upload_pk,
    upload_to_item,
)
from assistants_core.adapters.dynamodb.table import DynamoTable, Expression, absent_condition, owned_condition
from assistants_core.adapters.errors import ConditionFailedError, TransactionCancelledError
from assistants_core.domain.errors import ConflictError, NotFoundError
from assistants_core.domain.files import StoredFile, Upload, UploadPart, UploadStateError, UploadStatus


class DynamoUploadRepository:
    def __init__(self, table: DynamoTable) -> None:
        self._table = table

    def put_upload(self, upload: Upload) -> None:
        expression = Expression()
        try:
            self._table.put(upload_to_item(upload), expression, absent_condition(expression))
        except ConditionFailedError:
            raise ConflictError(f"An upload with id '{upload.id}' already exists.") from None

    def get_upload(self, owner: str, upload_id: str) -> Upload:
        item = self._table.get(upload_pk(upload_id), UPLOAD_SK)
        if item is None or item.get("owner") != owner:
            raise NotFoundError("upload", upload_id)
        return upload_from_item(item)

    def _pending_condition(self, expression: Expression, owner: str) -> str:
        status = f"{expression.name('status')} = {expression.value(UploadStatus.PENDING.value)}"
        return f"{owned_condition(expression, owner)} AND {status}"

    def _state_error(self, owner: str, upload_id: str, action: str) -> UploadStateError:
        upload = self.get_upload(owner, upload_id)  # NotFoundError for another tenant's upload
        return UploadStateError(upload_id, upload.status.value, action)

    def add_part(self, owner: str, part: UploadPart) -> None:
        check = Expression()
        put = Expression()
        try:
            self._table.transact(
                [
                    self._table.check_op(
                        upload_pk(part.upload_id), UPLOAD_SK, check, self._pending_condition(check, owner)
                    ),
                    self._table.put_op(part_to_item(part), put, absent_condition(put)),
                ]
            )
        except TransactionCancelledError as error:
            if error.failed(0):
                raise self._state_error(owner, part.upload_id, "add a part to") from None
            raise ConflictError(f"A part with id '{part.id}' already exists.") from None

    def list_parts(self, upload_id: str) -> list[UploadPart]:
        items = self._table.query(
            partition=("PK", upload_pk(upload_id)), sort_attribute="SK", prefix=PART_PREFIX
        )
        return [part_from_item(item) for item in items]

    def complete_upload(self, upload: Upload, file: StoredFile) -> Upload:
        update = Expression()
        update.set("status", UploadStatus.COMPLETED.value)
        update.set("file_id", file.id)
        put = Expression()
        try:
            self._table.transact(
                [
                    self._table.update_op(
                        upload_pk(upload.id), UPLOAD_SK, update, self._pending_condition(update, upload.owner)
                    ),
                    self._table.put_op(file_to_item(file), put, absent_condition(put)),
                ]
            )
        except TransactionCancelledError as error:
            if error.failed(0):
                raise self._state_error(upload.owner, upload.id, "complete") from None
            raise ConflictError(f"A file with id '{file.id}' already exists.") from None
        upload.status = UploadStatus.COMPLETED
        upload.file_id = file.id
        return upload

    def cancel_upload(self, owner: str, upload_id: str) -> Upload:
        update = Expression()
        update.set("status", UploadStatus.CANCELLED.value)
        try:
            item = self._table.update(
                upload_pk(upload_id),
                UPLOAD_SK,
                update,
                self._pending_condition(update, owner),
                return_new=True,
            )
        except ConditionFailedError:
            raise self._state_error(owner, upload_id, "cancel") from None
        return upload_from_item(item)

    def delete_parts(self, upload_id: str, part_ids: list[str]) -> None:
        self._table.batch_delete([(upload_pk(upload_id), PART_PREFIX + part_id) for part_id in part_ids])
