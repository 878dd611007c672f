/* Writes the JPEG fixtures that stb_image_write cannot make: a progressive JPEG, and CMYK JPEGs
 * with and without the Adobe APP14 marker. Built and run by hand; its outputs are committed.
 *
 *   cc make_jpeg_fixtures.c -ljpeg -o /tmp/make_jpeg_fixtures && /tmp/make_jpeg_fixtures .
 *
 * Every fixture is 48x40 and shows the same smooth pattern as test_data_decode.cc expects:
 * red = 40 + 4x, green = 30 + 4y, blue = 160. CMYK is stored as Adobe applications store it,
 * inverted (255 means no ink), so the pattern is C' = red, M' = green, Y' = blue, K' = 255. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

enum { W = 48, H = 40 };

static void write_jpeg(const char* dir, const char* name, int cmyk, int progressive, int adobe_marker) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE* f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  struct jpeg_compress_struct cinfo;
  struct jpeg_error_mgr jerr;
  cinfo.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, f);
  cinfo.image_width = W;
  cinfo.image_height = H;
  cinfo.input_components = cmyk ? 4 : 3;
  cinfo.in_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, 95, TRUE);
  if (progressive) jpeg_simple_progression(&cinfo);
  if (cmyk) cinfo.write_Adobe_marker = adobe_marker ? TRUE : FALSE;
  jpeg_start_compress(&cinfo, TRUE);
  unsigned char row[W * 4];
  while (cinfo.next_scanline < H) {
    int y = (int)cinfo.next_scanline, c = cinfo.input_components;
    for (int x = 0; x < W; ++x) {
      row[x * c + 0] = (unsigned char)(40 + 4 * x);
      row[x * c + 1] = (unsigned char)(30 + 4 * y);
      row[x * c + 2] = 160;
      if (cmyk) row[x * c + 3] = 255;
    }
    JSAMPROW rows[1] = {row};
    jpeg_write_scanlines(&cinfo, rows, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  fclose(f);
}

int main(int argc, char** argv) {
  const char* dir = argc > 1 ? argv[1] : ".";
  write_jpeg(dir, "progressive.jpg", 0, 1, 0);
  write_jpeg(dir, "cmyk_adobe.jpg", 1, 0, 1);
  write_jpeg(dir, "cmyk_no_adobe.jpg", 1, 0, 0);
  return 0;
}
