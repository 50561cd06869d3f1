/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * codec-internal.h — what the codec's own files share (codec.c's pieces,
 * the two decoders codec-detect.c calls). Nothing outside src/codec*.c
 * includes it.
 */
#pragma once

#include "codec.h"

typedef struct VWriter VWriter;
CodecReason codec_decode_json(const CodecLimits *limits, const char *buf, size_t len,
                              CodecEvent *ret);
CodecReason codec_decode_msgpack(const CodecLimits *limits, const char *buf, size_t len,
                                 CodecEvent *ret);
/* Checks one key or string value: length, NUL, UTF-8. */
CodecReason codec_check_string(const CodecLimits *limits, const char *s, size_t len);
/* Finishes a decoded event from the writer and the "type" member's bytes. */
void codec_event_take(CodecEvent *ret, CodecFormat format, VWriter *w, const char *type,
                      size_t type_len);
