"""The gRPC front end: ``mlservice.MLService`` (app.proto) over the core facade."""
