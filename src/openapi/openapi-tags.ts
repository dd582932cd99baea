/** Tag grouping the Bulk Data operations in the document and the Swagger UI. */
export const BULK_DATA_TAG = 'Bulk Data export';
